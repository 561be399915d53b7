/**
 * A FIFO queue per priority, served highest priority first: the ready messages of one
 * memory:// queue. Must stay O(1) per push and shift (a test may publish many thousands).
 */

class Bucket<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    // Drop the consumed front once it outweighs what is left.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class PriorityQueue<T> {
  private readonly buckets = new Map<number, Bucket<T>>();
  /** Priorities that have a bucket, highest first. */
  private order: number[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  /** Adds at the back of its priority, or at the front (a message handed back goes next). */
  add(item: T, priority: number, front = false): void {
    let bucket = this.buckets.get(priority);
    if (!bucket) {
      bucket = new Bucket<T>();
      this.buckets.set(priority, bucket);
      this.order = [...this.order, priority].sort((a, b) => b - a);
    }
    if (front) bucket.unshift(item);
    else bucket.push(item);
    this.size += 1;
  }

  shift(): T | undefined {
    for (const priority of this.order) {
      const item = this.buckets.get(priority)?.shift();
      if (item !== undefined) {
        this.size -= 1;
        return item;
      }
    }
    return undefined;
  }

  /** Empties the queue; returns how many items it held. */
  clear(): number {
    const count = this.size;
    this.buckets.clear();
    this.order = [];
    this.size = 0;
    return count;
  }
}
