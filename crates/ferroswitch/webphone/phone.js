// The ferroswitch web phone: JsSIP over the server's own WebSocket (wss://<this host>/ by
// default), one call at a time. `window.phone` exposes the state to scripts and tests.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const state = {
    registration: 'not registered',
    call: 'idle',
    lastCause: '',
    dtmf: '',
    ua: null,
    session: null,
    held: false,
    muted: false,
  };
  window.phone = state;

  function log(text) {
    const li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + ' ' + text;
    $('log').prepend(li);
  }

  function setRegistration(s) {
    state.registration = s;
    $('reg-status').textContent = s;
    const registered = s === 'registered';
    $('call').disabled = !registered || !!state.session;
    $('logout').disabled = !state.ua;
    $('register').disabled = !!state.ua;
  }

  function setCall(s, peer) {
    state.call = s;
    $('call-status').textContent = s;
    if (peer !== undefined) $('peer').textContent = peer;
    const s_ = state.session;
    const live = !!s_ && !s_.isEnded();
    const incoming = live && s_.direction === 'incoming' && !s_.isEstablished();
    const established = live && s_.isEstablished();
    $('answer').disabled = !incoming;
    $('hangup').disabled = !live;
    $('hold').disabled = !established;
    $('mute').disabled = !established;
    $('call').disabled = live || state.registration !== 'registered';
    document.querySelectorAll('#keypad button').forEach((b) => { b.disabled = !established; });
    $('hold').textContent = state.held ? 'Resume' : 'Hold';
    $('mute').textContent = state.muted ? 'Unmute' : 'Mute';
  }

  // A login (also the SIP user and auth name) with spaces, quotes or angle brackets cannot be
  // put in a SIP URI as typed: the registration would never complete. Say so at once.
  function loginProblem(login) {
    if (!login) return 'Enter your login.';
    if (/\s/.test(login)) return 'Your login contains a space: SIP addresses cannot carry it, so this phone cannot register with it. Ask your provider for a login without spaces.';
    if (/[<>"]/.test(login)) return 'Your login contains < > or ": SIP addresses cannot carry them, so this phone cannot register with it. Ask your provider for a login without them.';
    return '';
  }
  window.phone.loginProblem = loginProblem;

  const media = { audio: true, video: false };
  const rtc = { iceServers: [] };

  function attach(session) {
    state.session = session;
    state.held = false;
    state.muted = false;
    const who = session.remote_identity ? session.remote_identity.uri.user : '';
    session.on('peerconnection', (e) => {
      e.peerconnection.addEventListener('track', (t) => {
        $('remote').srcObject = t.streams[0];
      });
    });
    // an incoming call keeps saying who calls until it is answered
    session.on('progress', () => {
      if (session.direction === 'outgoing') setCall('ringing at ' + who);
    });
    session.on('accepted', () => setCall('in call', who));
    session.on('confirmed', () => setCall('in call', who));
    session.on('hold', () => { state.held = true; setCall('on hold'); });
    session.on('unhold', () => { state.held = false; setCall('in call'); });
    session.on('muted', () => { state.muted = true; setCall(state.call); });
    session.on('unmuted', () => { state.muted = false; setCall(state.call); });
    const end = (kind) => (e) => {
      state.lastCause = e.cause + (e.originator ? ' (' + e.originator + ')' : '');
      log('call ' + kind + ': ' + state.lastCause);
      state.session = null;
      state.held = false;
      state.muted = false;
      setCall(kind + ': ' + e.cause);
    };
    session.on('ended', end('ended'));
    session.on('failed', end('failed'));
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = $('user').value.trim();
    const problem = loginProblem(user);
    $('login-error').textContent = problem;
    if (problem) return;
    const domain = $('domain').value.trim() || location.hostname;
    const server = $('server').value.trim() || ((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');
    let ua;
    try {
      ua = new JsSIP.UA({
        sockets: [new JsSIP.WebSocketInterface(server)],
        uri: 'sip:' + user + '@' + domain,
        password: $('password').value,
        register: true,
        register_expires: 300,
        session_timers: false,
        user_agent: 'ferroswitch-webphone JsSIP/' + JsSIP.version,
      });
    } catch (e) {
      $('login-error').textContent = 'Cannot log in: ' + e.message;
      return;
    }
    state.ua = ua;
    ua.on('connecting', () => setRegistration('connecting'));
    ua.on('disconnected', () => { if (state.ua === ua) setRegistration('disconnected'); });
    ua.on('registered', () => { $('login-error').textContent = ''; setRegistration('registered'); log('registered as ' + user); });
    ua.on('unregistered', () => setRegistration('not registered'));
    ua.on('registrationFailed', (e) => {
      const why = e.response ? e.response.status_code + ' ' + e.response.reason_phrase : e.cause;
      setRegistration('registration failed: ' + why);
      $('login-error').textContent = e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR || (e.response && e.response.status_code === 403)
        ? 'Wrong login or password.' : 'Registration failed: ' + why;
    });
    ua.on('newRTCSession', (e) => {
      if (state.session && e.originator === 'remote') {
        e.session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
        return;
      }
      attach(e.session);
      if (e.originator === 'remote') {
        const from = e.request.from.uri.user;
        log('incoming call from ' + from);
        setCall('incoming call from ' + from, from);
      } else {
        setCall('calling');
      }
    });
    ua.on('newMessage', (e) => {
      if (e.originator === 'remote') log('message from ' + e.request.from.uri.user + ': ' + e.request.body);
    });
    setRegistration('connecting');
    ua.start();
  });

  $('logout').addEventListener('click', () => {
    if (!state.ua) return;
    const ua = state.ua;
    state.ua = null;
    ua.stop();
    setRegistration('not registered');
  });

  $('dial').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const number = $('number').value.trim();
    if (!state.ua || !number) return;
    const target = number.includes('@') ? number : 'sip:' + number + '@' + state.ua.configuration.uri.host;
    try {
      state.ua.call(target, { mediaConstraints: media, pcConfig: rtc });
    } catch (e) {
      setCall('failed: ' + e.message);
    }
  });
  $('answer').addEventListener('click', () => {
    if (state.session) state.session.answer({ mediaConstraints: media, pcConfig: rtc });
  });
  $('hangup').addEventListener('click', () => {
    if (state.session) state.session.terminate();
  });
  $('hold').addEventListener('click', () => {
    if (!state.session) return;
    if (state.held) state.session.unhold(); else state.session.hold();
  });
  $('mute').addEventListener('click', () => {
    if (!state.session) return;
    if (state.muted) state.session.unmute({ audio: true }); else state.session.mute({ audio: true });
  });
  document.querySelectorAll('#keypad button').forEach((b) => {
    b.addEventListener('click', () => {
      if (!state.session) return;
      state.session.sendDTMF(b.dataset.dtmf);
      state.dtmf += b.dataset.dtmf;
      $('dtmf-sent').textContent = state.dtmf;
    });
  });
  setRegistration('not registered');
  setCall('idle', '');
})();
