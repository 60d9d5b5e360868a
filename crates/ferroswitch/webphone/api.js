// The call-control API demo (docs/api.md): a browser places and answers calls through the
// REST API, with its RTCPeerConnection's SDP in the requests and events; no SIP here. The
// switch's WebRTC gateway bridges its ICE + DTLS-SRTP to the plain RTP of SIP phones.
// `window.apiPhone` exposes the state (token, session, events, pc) to scripts and tests.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const state = {
    token: '',
    login: '',
    registration: null,
    connection: 'not connected',
    call: 'idle',
    session: null,
    // the voice session's offer (incoming) or the call being placed
    offer: null,
    pc: null,
    stream: null,
    // every event received, in order
    events: [],
    lastSeq: 0,
    ws: null,
  };
  window.apiPhone = state;
  const FINAL = ['terminating', 'cancelled', 'declined', 'failed', 'no_answer', 'not_found', 'busy'];

  function log(text) {
    const li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + ' ' + text;
    $('log').prepend(li);
  }

  function setConnection(s) {
    state.connection = s;
    $('reg-status').textContent = s;
    $('register').disabled = s === 'connected' || s === 'connecting';
    setCall(state.call);
  }

  function setCall(s) {
    state.call = s;
    $('call-status').textContent = s;
    $('session').textContent = state.session || '';
    const live = !!state.session;
    $('call').disabled = live || state.connection !== 'connected';
    $('answer').disabled = !(live && state.offer);
    $('hangup').disabled = !live;
  }

  async function api(method, path, body) {
    const headers = { authorization: 'Bearer ' + state.token };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const json = text ? JSON.parse(text) : null;
    if (!r.ok) throw new Error(method + ' ' + path + ': ' + r.status + ' ' + (json && json.error));
    return json;
  }

  async function token() {
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get('token')) return hash.get('token');
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: $('client-id').value.trim(),
      client_secret: $('client-secret').value,
    });
    const r = await fetch('/oauth/token', { method: 'POST', body });
    const json = await r.json();
    if (!r.ok) throw new Error(json.error);
    return json.access_token;
  }

  // The channel's WebSocket; after a drop it reconnects with ?since= the last event's
  // sequence number, so the events sent meanwhile are replayed.
  function listen(url) {
    const ws = new WebSocket(state.lastSeq ? url + '?since=' + state.lastSeq : url);
    state.ws = ws;
    ws.onopen = () => setConnection('connected');
    ws.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (ev.seq) {
        if (ev.seq <= state.lastSeq) return;
        state.lastSeq = ev.seq;
      }
      state.events.push(ev);
      if (ev.event === 'incoming_call' && !state.session) {
        state.session = ev.session;
        state.offer = ev.sdp;
        log('incoming call from ' + ev.caller);
        setCall('incoming call from ' + ev.caller);
        return;
      }
      if (ev.session === state.session) apply(ev);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      setConnection('reconnecting');
      setTimeout(() => listen(url), 1000);
    };
  }

  function apply(ev) {
    log(ev.session + ': ' + ev.status + (ev.code ? ' ' + ev.code : '') + (ev.reason ? ' (' + ev.reason + ')' : ''));
    if (ev.status === 'connected') {
      if (ev.sdp && state.pc && state.pc.signalingState === 'have-local-offer') {
        state.pc.setRemoteDescription({ type: 'answer', sdp: ev.sdp })
          .catch((e) => log('the answer was refused: ' + e.message));
      }
      setCall('in call');
    } else if (ev.status === 'ringing' || ev.status === 'session_progress' || ev.status === 'queued') {
      setCall('ringing');
    } else if (ev.status === 'hold') {
      setCall('on hold');
    } else if (ev.status === 'resumed') {
      setCall('in call');
    } else if (FINAL.includes(ev.status)) {
      end(ev.status + (ev.reason ? ' (' + ev.reason + ')' : ''));
    }
  }

  function end(why) {
    if (state.pc) state.pc.close();
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.pc = null;
    state.stream = null;
    state.session = null;
    state.offer = null;
    setCall('ended: ' + why);
  }

  // The complete SDP (no trickle ICE through the API): wait for candidates, at most 2 s.
  function gathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') { resolve(); return; }
      const t = setTimeout(resolve, 2000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
  }

  async function peer() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.addEventListener('track', (t) => { $('remote').srcObject = t.streams[0]; });
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    state.stream.getTracks().forEach((t) => pc.addTrack(t, state.stream));
    state.pc = pc;
    return pc;
  }

  $('login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    const hash = new URLSearchParams(location.hash.slice(1));
    state.login = hash.get('login') || $('user').value.trim();
    setConnection('connecting');
    try {
      state.token = await token();
      const reg = await api('POST', '/session', { type: 'registration', login: state.login, endpoint: 'webrtc' });
      state.registration = reg.id;
      const ch = await api('POST', '/channels', { type: 'websocket', login: state.login });
      log('registered ' + state.login + ' (' + reg.id + ')');
      listen(ch.url);
    } catch (e) {
      $('login-error').textContent = e.message;
      setConnection('not connected');
    }
  });

  $('dial').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const number = $('number').value.trim();
    if (!number || state.session) return;
    setCall('calling');
    try {
      const pc = await peer();
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const s = await api('POST', '/session', {
        type: 'voice', login: state.login, destination: number, sdp: pc.localDescription.sdp,
      });
      state.session = s.id;
      setCall('calling');
      // events of this session that came before the POST's answer
      state.events.filter((e) => e.session === s.id).forEach(apply);
    } catch (e) {
      end('failed: ' + e.message);
    }
  });

  $('answer').addEventListener('click', async () => {
    if (!state.session || !state.offer) return;
    const offer = state.offer;
    state.offer = null;
    try {
      const pc = await peer();
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await api('PUT', '/session/' + state.session + '/status', { status: 'connected', sdp: pc.localDescription.sdp });
    } catch (e) {
      log('answer failed: ' + e.message);
    }
  });

  $('hangup').addEventListener('click', async () => {
    if (!state.session) return;
    try {
      await api('DELETE', '/session/' + state.session);
    } catch (e) {
      log('hang up failed: ' + e.message);
    }
  });

  setConnection('not connected');
  setCall('idle');
})();
