// Live updates, a progressive enhancement (README.md beside this file): on each SSE "update"
// from <main data-live-src>, refetch this page and swap in the contents of each [data-live][id].
(function () {
  'use strict';
  var root = document.querySelector('[data-live-src]');
  if (!root || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var status = document.getElementById('lg-live-status'); // role=status, outside [data-live]
  var last = 0, timer = 0, busy = false, pending = false, paused = false, broken = false;
  var SCROLLERS = '.lg-table-wrapper,.lg-chart__scroll';

  // A region holding focus, or with a form field the user changed, is left as it is.
  function edited(e) {
    var r = e.target.closest && e.target.closest('[data-live]');
    if (r) r.lgEdited = true;
  }
  document.addEventListener('input', edited, true);
  document.addEventListener('change', edited, true);

  function apply(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    var x = window.scrollX, y = window.scrollY, changed = false;
    var olds = document.querySelectorAll('[data-live][id]');
    for (var i = 0; i < olds.length; i++) {
      var old = olds[i], fresh = doc.getElementById(old.id);
      if (!fresh || old.lgEdited || old.contains(document.activeElement) ||
          fresh.innerHTML === old.innerHTML) continue;
      var w = old.querySelectorAll(SCROLLERS), sx = [], j;
      for (j = 0; j < w.length; j++) sx.push(w[j].scrollLeft);
      old.innerHTML = fresh.innerHTML;
      w = old.querySelectorAll(SCROLLERS);
      for (j = 0; j < w.length && j < sx.length; j++) w[j].scrollLeft = sx[j];
      changed = true;
    }
    if (window.scrollX !== x || window.scrollY !== y) window.scrollTo(x, y);
    if (changed) say('Updated at ' + new Date().toLocaleTimeString('en-GB', { hour12: false }));
  }

  function say(text) { if (status) status.textContent = text; }

  function refresh() {
    timer = 0;
    busy = true;
    last = Date.now();
    fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(apply)
      .catch(function () {})
      .then(function () { busy = false; resume(); });
  }

  // At most one refresh per 2 s; none while paused or while the tab is hidden.
  function schedule() {
    if (paused || document.hidden || busy) pending = true;
    else if (!timer) timer = setTimeout(refresh, Math.max(0, last + 2000 - Date.now()));
  }
  function resume() { if (pending) { pending = false; schedule(); } }

  function connect() {
    var es = new EventSource(root.getAttribute('data-live-src'));
    es.addEventListener('update', schedule);
    es.onopen = function () {
      root.setAttribute('data-live-state', 'open');
      if (broken) schedule(); // catch up on what was missed while away
      broken = false;
    };
    es.onerror = function () {
      broken = true;
      root.setAttribute('data-live-state', 'error');
      // A dropped stream is retried by EventSource; one refused (HTTP error) is closed.
      if (es.readyState === 2) setTimeout(connect, 30000);
    };
  }

  document.addEventListener('visibilitychange', function () { if (!document.hidden) resume(); });

  var controls = document.querySelector('[data-live-controls]');
  var toggle = document.querySelector('[data-live-toggle]');
  if (controls) controls.hidden = false;
  if (toggle) toggle.addEventListener('click', function () {
    paused = !paused;
    toggle.textContent = paused ? 'Resume live updates' : 'Pause live updates';
    say(paused ? 'Live updates paused' : 'Live updates resumed');
    if (!paused) resume();
  });

  connect();
})();
