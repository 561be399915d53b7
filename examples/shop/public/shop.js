// The shop page's behaviour: send the order with fetch (the server answers 202 with the
// task's Location at once), then follow `<Location>/stream` with EventSource and show each
// state. Every event is a full snapshot of the task, so nothing here accumulates state
// that a reconnect could get wrong. It must never poll: the stream pushes every change.
// Text from the server only ever goes in through textContent, never as HTML.

const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
const $ = (id) => document.getElementById(id);

const form = $('order-form');
const button = $('place-order');
let source;
let countdown;
let renewing = false;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  source?.close();
  showRetry(null);
  button.disabled = true;
  button.textContent = 'Sending the order…';
  $('form-error').hidden = true;
  // The card of an earlier order goes: a refused order must not leave it behind, stale.
  $('order-status').hidden = true;
  const fields = Object.fromEntries(new FormData(form));
  try {
    const response = await fetch('/orders', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(fields),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) {
      showFormError(body.error?.message ?? `The order was not accepted (HTTP ${response.status}).`);
      return;
    }
    const location = response.headers.get('Location');
    resetStatus();
    $('order-id').textContent = body.orderId;
    $('task-id').textContent = body.id;
    $('task-link').href = location;
    follow(`${location}/stream`);
  } catch (error) {
    showFormError(`The shop could not be reached: ${error.message}`);
  } finally {
    button.textContent = 'Place order';
    // While a task is followed the button stays off; it comes back with a final state.
    if (!source || source.readyState === EventSource.CLOSED) button.disabled = false;
  }
});

function follow(url) {
  source = new EventSource(url);
  source.onopen = () => {
    renewing = false;
  };
  source.onmessage = (message) => {
    const view = JSON.parse(message.data);
    render(view);
    if (FINAL.has(view.state)) {
      // Close before the server ends the stream, or EventSource would reconnect.
      source.close();
      button.disabled = false;
    }
  };
  // The server ends a long stream with this event; EventSource reconnects by itself.
  source.addEventListener('reconnect', () => {
    renewing = true;
    logEvent('renewing the live connection…');
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CONNECTING) {
      if (!renewing) logEvent('connection lost, reconnecting…');
    } else if (source.readyState === EventSource.CLOSED) {
      logEvent('live updates stopped: reload the page to follow the order again');
      button.disabled = false;
    }
  };
}

function render(view) {
  $('order-status').dataset.state = view.state;
  $('order-state').textContent = describe(view);
  const percent = view.state === 'SUCCESS' ? 100 : view.progress?.percent;
  if (typeof percent === 'number') setProgress(percent);
  showRetry(view.state === 'RETRY' ? view : null);
  if (view.state === 'SUCCESS') {
    $('receipt-link').href = view.result.receiptUrl;
    $('email-note').textContent =
      ` · confirmation email written to the outbox as ${view.result.emailFile}`;
    $('order-result').hidden = false;
  }
  if (view.state === 'FAILURE' || view.state === 'REVOKED') {
    stopProgress();
    showError(`${view.error.type}: ${view.error.message}`);
  }
  logEvent(describe(view));
}

function describe(view) {
  switch (view.state) {
    case 'PENDING':
      return 'Queued: waiting for a worker…';
    case 'RECEIVED':
      return 'A worker received the order…';
    case 'STARTED':
      return 'A worker started on the order…';
    case 'PROGRESS':
      return `Working: ${view.progress?.step ?? 'in progress'} (${view.progress?.percent ?? 0}%)`;
    case 'RETRY':
      return `Retrying after ${view.error?.type}: ${view.error?.message}${retryDetails(view.retry)}`;
    case 'SUCCESS':
      return 'Order confirmed.';
    case 'FAILURE':
      return 'The order failed.';
    case 'REVOKED':
      return 'The order was cancelled.';
    default:
      return view.state;
  }
}

/** " (attempt 1 of 3 failed; next attempt at 10:00:02)", as much of it as the worker recorded. */
function retryDetails(retry) {
  if (!retry) return '';
  const parts = [];
  if (retry.attempt !== null)
    parts.push(
      `attempt ${retry.attempt}${retry.maxAttempts !== null ? ` of ${retry.maxAttempts}` : ''} failed`,
    );
  if (retry.nextAttemptAt !== null)
    parts.push(`next attempt at ${new Date(retry.nextAttemptAt).toLocaleTimeString()}`);
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

/** While RETRY: which attempt failed and a countdown to the next one; hidden otherwise. */
function showRetry(view) {
  clearInterval(countdown);
  const line = $('order-retry');
  if (!view?.retry) {
    line.hidden = true;
    delete line.dataset.nextAttemptAt;
    return;
  }
  const { attempt, maxAttempts, nextAttemptAt } = view.retry;
  const of = maxAttempts !== null ? ` of ${maxAttempts}` : '';
  const failed = attempt !== null ? `Attempt ${attempt}${of} failed.` : 'The last attempt failed.';
  const tick = () => {
    if (nextAttemptAt === null) {
      line.textContent = `${failed} The next one comes shortly.`;
      return;
    }
    const seconds = Math.ceil((Date.parse(nextAttemptAt) - Date.now()) / 1000);
    const when = seconds > 0 ? `in ${seconds} s` : 'any moment now';
    line.textContent = `${failed} Next attempt at ${new Date(nextAttemptAt).toLocaleTimeString()} (${when}).`;
  };
  if (nextAttemptAt !== null) line.dataset.nextAttemptAt = nextAttemptAt;
  tick();
  countdown = setInterval(tick, 1000);
  line.hidden = false;
}

function setProgress(percent) {
  $('order-progress').value = percent;
  $('order-progress').textContent = `${percent}%`;
  $('order-progress-text').textContent = `${percent}%`;
}

/** A task that failed will not move on: the bar says so instead of looking busy. */
function stopProgress() {
  const bar = $('order-progress');
  bar.dataset.stopped = 'true';
  $('order-progress-text').textContent = `stopped at ${bar.value}%`;
}

function showError(text) {
  $('order-error').textContent = text;
  $('order-error').hidden = false;
}

function showFormError(text) {
  $('form-error').textContent = text;
  $('form-error').hidden = false;
}

function logEvent(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('order-events').append(item);
}

function resetStatus() {
  $('order-status').hidden = false;
  $('order-status').dataset.state = '';
  $('order-state').textContent = 'Order accepted: waiting for its first update…';
  $('order-error').hidden = true;
  $('order-result').hidden = true;
  $('order-events').replaceChildren();
  delete $('order-progress').dataset.stopped;
  setProgress(0);
}
