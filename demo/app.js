// The tslay demo page: an echo client that measures round trips and a chat client, both on the browser's own
// WebSocket. No build step and no dependencies: served as-is by `tslay serve`.

const socketUrl = (query = '') =>
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${query}`;
const $ = (id) => document.getElementById(id);
const RTT_INTERVAL_MS = 2000;
const MAX_LOG_LINES = 200;

function setState(element, state) {
  element.dataset.state = state;
  element.textContent = state;
}

/** Appends a line to a log: text nodes only, so nothing a peer sends is ever parsed as HTML. */
function logLine(list, parts, className) {
  const item = document.createElement('li');
  if (className) item.className = className;
  for (const part of parts) {
    if (typeof part === 'string') item.append(part);
    else {
      const span = document.createElement('span');
      span.className = part.className;
      span.textContent = part.text;
      item.append(span);
    }
  }
  list.append(item);
  while (list.children.length > MAX_LOG_LINES) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

// ── echo ──────────────────────────────────────────────────────────────────────────────────────────────────
const echo = { ws: null, sent: 0, received: 0, rtts: [], timer: null, seq: 0 };

function countEcho() {
  $('echo-sent').textContent = String(echo.sent);
  $('echo-received').textContent = String(echo.received);
}

function sendEcho(text) {
  if (echo.ws?.readyState !== WebSocket.OPEN) return;
  echo.ws.send(text);
  echo.sent++;
  countEcho();
}

function measureRoundTrip() {
  sendEcho(JSON.stringify({ rtt: ++echo.seq, t: performance.now() }));
}

function showRoundTrip(ms) {
  echo.rtts.push(ms);
  if (echo.rtts.length > 20) echo.rtts.shift();
  const average = echo.rtts.reduce((a, b) => a + b, 0) / echo.rtts.length;
  $('rtt').textContent = `${ms.toFixed(1)} ms`;
  $('rtt-avg').textContent = `${average.toFixed(1)} ms`;
}

function onEchoMessage(event) {
  echo.received++;
  countEcho();
  if (typeof event.data !== 'string') return;
  try {
    const probe = JSON.parse(event.data);
    if (typeof probe?.rtt === 'number' && typeof probe.t === 'number') {
      showRoundTrip(performance.now() - probe.t);
      return;
    }
  } catch {
    // Not a probe: plain text typed by the user.
  }
  logLine($('echo-log'), [`echo: ${event.data}`]);
}

function connectEcho() {
  const ws = new WebSocket(socketUrl(), 'echo');
  echo.ws = ws;
  setState($('echo-state'), 'connecting');
  $('echo-toggle').textContent = 'Disconnect';
  ws.addEventListener('open', () => {
    setState($('echo-state'), 'open');
    measureRoundTrip();
    echo.timer = setInterval(measureRoundTrip, RTT_INTERVAL_MS);
  });
  ws.addEventListener('message', onEchoMessage);
  ws.addEventListener('close', (event) => {
    clearInterval(echo.timer);
    if (echo.ws !== ws) return;
    echo.ws = null;
    setState($('echo-state'), 'closed');
    $('echo-toggle').textContent = 'Connect';
    logLine($('echo-log'), [`closed (${event.code})`], 'notice');
  });
}

$('echo-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('echo-input');
  if (input.value === '') return;
  sendEcho(input.value);
  input.value = '';
});
$('echo-ping').addEventListener('click', measureRoundTrip);
$('echo-toggle').addEventListener('click', () => {
  if (echo.ws) echo.ws.close(1000);
  else connectEcho();
});

// ── chat ──────────────────────────────────────────────────────────────────────────────────────────────────
const chat = { ws: null, sent: 0, received: 0 };

function countChat() {
  $('chat-sent').textContent = String(chat.sent);
  $('chat-received').textContent = String(chat.received);
}

function setJoined(joined) {
  $('join').disabled = joined;
  $('name').disabled = joined;
  $('leave').disabled = !joined;
  $('chat-input').disabled = !joined;
  $('chat-send').disabled = !joined;
}

function onChatMessage(event) {
  chat.received++;
  countChat();
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  const log = $('chat-log');
  if (message.type === 'message') {
    logLine(log, [{ className: 'name', text: message.name }, `: ${message.text}`], 'message');
    return;
  }
  if (message.type === 'join' || message.type === 'leave') {
    $('users').textContent = String(message.users);
    const verb = message.type === 'join' ? 'joined' : 'left';
    logLine(log, [`${message.name} ${verb} (${message.users} online)`], 'notice');
  }
}

function joinChat(name) {
  const ws = new WebSocket(socketUrl(`?name=${encodeURIComponent(name)}`), 'chat');
  chat.ws = ws;
  setJoined(true);
  setState($('chat-state'), 'connecting');
  ws.addEventListener('open', () => {
    setState($('chat-state'), 'open');
    $('chat-input').focus();
  });
  ws.addEventListener('message', onChatMessage);
  ws.addEventListener('close', (event) => {
    if (chat.ws !== ws) return;
    chat.ws = null;
    setJoined(false);
    setState($('chat-state'), 'closed');
    $('users').textContent = '–';
    logLine($('chat-log'), [`you left (${event.code})`], 'notice');
  });
}

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (!chat.ws) joinChat($('name').value.trim());
});
$('leave').addEventListener('click', () => chat.ws?.close(1000));
$('chat-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('chat-input');
  if (input.value === '' || chat.ws?.readyState !== WebSocket.OPEN) return;
  chat.ws.send(input.value);
  chat.sent++;
  countChat();
  input.value = '';
});

connectEcho();
