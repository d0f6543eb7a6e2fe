// Live events (server-sent events from /events/kiosk or /events/console): car prompts, pass
// decisions, approvals and alerts reach the page without waiting for its polling timer.
//
//   gateLive.on(["vehicle_prompt", "resync"], fn)   fn(data, name) for each event of those names
//   gateLive.every(ms)   the page's poll interval: ms, or window.GATE_LIVE_POLL_MS while the
//                        stream is live if that is slower (tests set it to prove the stream works;
//                        polling stays the safety net for what has no event, e.g. a prompt expiring)
//   gateLive.beep()      the short sound cue; gateLive.beeps counts the calls (for tests)
//
// "resync" is local: sent when the stream reopens after the kiosk was idle and when live.js
// gives up on the stream, so a page fetches once and resumes its own polling.
// The stream opens only once a page asks for events. It closes when the kiosk has been idle for
// the idle time (so the idle session still expires) and reopens on the next touch. Without
// EventSource, or after repeated failures, the pages simply keep polling.
(function () {
  const me = document.currentScript;
  const url = me && me.dataset.url;
  const idleMs = Number((me && me.dataset.idle) || 0) * 1000;
  const FAILURES = 3;  // consecutive errors without an open before falling back to polling
  const CUE = { vehicle_prompt: true, incident: true, alert: true };
  const handlers = {};
  let source = null;
  let failures = 0;
  let failed = !url || !window.EventSource;
  let idleClosed = false;
  let lastId = "";
  let lastActive = Date.now();
  let audio = null;

  const live = {
    beeps: 0,
    opens: 0,  // streams opened (each ~25 s, and after idle): for tests
    get live() { return !failed; },
    on(names, fn) {
      (Array.isArray(names) ? names : [names]).forEach((name) => {
        (handlers[name] = handlers[name] || []).push(fn);
      });
      open();
      return !failed;
    },
    every(ms) {
      return failed ? ms : Math.max(ms, Number(window.GATE_LIVE_POLL_MS || 0));
    },
    beep,
  };
  window.gateLive = live;

  function dispatch(name, data) {
    (handlers[name] || []).forEach((fn) => {
      try { fn(data, name); } catch (e) { /* one page's handler must not stop the others */ }
    });
  }

  // Browsers allow sound only after a user gesture: the context is made (or resumed) on a tap.
  function unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
  }

  function beep(times) {
    live.beeps += 1;
    if (!audio || audio.state !== "running") return;
    for (let i = 0; i < (times || 1); i += 1) {
      const start = audio.currentTime + i * 0.25;
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      tone.connect(gain).connect(audio.destination);
      tone.start(start);
      tone.stop(start + 0.2);
    }
  }

  function received(event) {
    if (event.lastEventId) lastId = event.lastEventId;
    let data = {};
    try { data = JSON.parse(event.data || "{}"); } catch (e) { /* keep {} */ }
    if (event.type === "refresh") { location.reload(); return; }  // signed out: sign-in page
    if (CUE[event.type] || (event.type === "approval" && data.state === "requested")) {
      beep(event.type === "vehicle_prompt" ? 1 : 2);
    }
    dispatch(event.type, data);
  }

  function open() {
    if (failed || source || idleClosed || !Object.keys(handlers).length) return;
    source = new EventSource(lastId ? `${url}?last=${encodeURIComponent(lastId)}` : url);
    source.addEventListener("open", () => { failures = 0; live.opens += 1; });
    source.addEventListener("error", () => {
      // Each stream ends by itself after ~25 s and the browser reconnects: one error is normal.
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= FAILURES) fallBack();
    });
    ["vehicle_prompt", "vehicle_handled", "pass_used", "pass_rejected", "approval", "incident",
     "alert", "refresh"].forEach((name) => source.addEventListener(name, received));
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  function fallBack() {
    close();
    failed = true;
    dispatch("resync", {});
  }

  // Idle: close the stream so nothing keeps an unattended kiosk signed in; reopen on a touch.
  function active() {
    lastActive = Date.now();
    unlock();
    if (idleClosed) {
      idleClosed = false;
      open();
      dispatch("resync", {});
    }
  }
  ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, active, true));
  if (idleMs > 0) {
    setInterval(() => {
      if (source && Date.now() - lastActive > idleMs - 5000) {
        close();
        idleClosed = true;
      }
    }, 1000);
  }
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", (event) => {  // back from the back-forward cache
    if (event.persisted) { open(); dispatch("resync", {}); }
  });
})();
