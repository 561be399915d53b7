// The shop page's behaviour: send the order with fetch (the server answers 202 with the
// task's Location at once), then follow `<Location>/stream` with EventSource and show each
// state. Every event is a full snapshot of the task, so nothing here accumulates state
// that a reconnect could get wrong. It must never poll: the stream pushes every change.

const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
const $ = (id) => document.getElementById(id);

const form = $('order-form');
const button = $('place-order');
let source;

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  source?.close();
  button.disabled = true;
  resetStatus();
  const fields = Object.fromEntries(new FormData(form));
  try {
    const response = await fetch('/orders', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(fields),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) {
      showError(body.error?.message ?? `The order was not accepted (HTTP ${response.status}).`);
      button.disabled = false;
      return;
    }
    const location = response.headers.get('Location');
    $('order-id').textContent = body.orderId;
    $('task-id').textContent = body.id;
    $('task-link').href = location;
    follow(`${location}/stream`);
  } catch (error) {
    showError(`The shop could not be reached: ${error.message}`);
    button.disabled = false;
  }
});

function follow(url) {
  source = new EventSource(url);
  source.onmessage = (message) => {
    const view = JSON.parse(message.data);
    render(view);
    if (FINAL.has(view.state)) {
      // Close before the server ends the stream, or EventSource would reconnect.
      source.close();
      button.disabled = false;
    }
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CONNECTING) logEvent('connection lost, reconnecting…');
  };
}

function render(view) {
  $('order-status').dataset.state = view.state;
  $('order-state').textContent = describe(view);
  const percent = view.state === 'SUCCESS' ? 100 : view.progress?.percent;
  if (typeof percent === 'number') setProgress(percent);
  if (view.state === 'SUCCESS') {
    $('receipt-link').href = view.result.receiptUrl;
    $('email-note').textContent = ` · confirmation email written to the outbox as ${view.result.emailFile}`;
    $('order-result').hidden = false;
  }
  if (view.state === 'FAILURE' || view.state === 'REVOKED') showError(`${view.error.type}: ${view.error.message}`);
  logEvent(describe(view));
}

function describe(view) {
  switch (view.state) {
    case 'PENDING': return 'Queued: waiting for a worker…';
    case 'RECEIVED': return 'A worker received the order…';
    case 'STARTED': return 'A worker started on the order…';
    case 'PROGRESS': return `Working: ${view.progress?.step ?? 'in progress'} (${view.progress?.percent ?? 0}%)`;
    case 'RETRY': return `Retrying after ${view.error?.type}: ${view.error?.message}`;
    case 'SUCCESS': return 'Order confirmed.';
    case 'FAILURE': return 'The order failed.';
    case 'REVOKED': return 'The order was cancelled.';
    default: return view.state;
  }
}

function setProgress(percent) {
  $('order-progress').value = percent;
  $('order-progress').textContent = `${percent}%`;
  $('order-progress-text').textContent = `${percent}%`;
}

function showError(text) {
  $('order-status').hidden = false;
  $('order-error').textContent = text;
  $('order-error').hidden = false;
}

function logEvent(text) {
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('order-events').append(item);
}

function resetStatus() {
  $('order-status').hidden = false;
  $('order-status').dataset.state = '';
  $('order-state').textContent = 'Sending the order…';
  $('order-error').hidden = true;
  $('order-result').hidden = true;
  $('order-events').replaceChildren();
  setProgress(0);
}
