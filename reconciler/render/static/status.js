// The status page's script: polls /api/status and re-renders with textContent only.
// Served as /static/status.js (same origin: CSP script-src 'self'); its cells mirror
// reconciler/render/status_page.py's, same order, same texts.
'use strict';
(function () {
  var POLL_MS = 2000;
  // Control, bidi and lone surrogate characters shown as escapes, as the server's first view
  // shows them (render/tables.escape_controls: \xHH, \uHHHH).
  var HIDDEN = /[\p{Cc}\p{Zl}\p{Zp}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/gu;
  function visible(s) {
    return s.replace(HIDDEN, function (c) {
      var n = c.charCodeAt(0);
      var hex = n.toString(16);
      return n < 0x100 ? '\\x' + ('0' + hex).slice(-2) : '\\u' + ('000' + hex).slice(-4);
    });
  }
  function text(v) { return (v === null || v === undefined || v === '') ? '-' : visible(String(v)); }
  function len(v) { return String((v || []).length); }
  function statusClass(s) { return s === 'rejected' ? 'bad' : (s === 'deferred' ? 'warn' : ''); }
  function daysText(g) {
    var d = g.daysLeft;
    if (d === null || d === undefined) { return 'unknown'; }
    if (g.reviewExpired) { return num(d) + ' (overdue)'; }
    return g.warning ? num(d) + ' (due soon)' : num(d);
  }
  function num(d) { return Number.isInteger(d) ? d.toFixed(1) : String(d); }
  function cooldownText(g) {
    if (!g.enabled) { return 'off'; }
    if (g.problem) { return 'unknown: ' + g.problem.reason; }
    var c = g.cooldown;
    if (!c) { return 'off'; }
    var left = c.leftSeconds || 0;
    return left > 0 ? left + ' s (until ' + c.until + ')' : 'clear';
  }
  function budgetText(g) {
    var b = g.enabled ? g.budget : null;
    if (!b) { return 'off'; }
    var parts = [];
    if (b.maxExpands !== null && b.maxExpands !== undefined) {
      parts.push(b.expandsUsed + ' of ' + b.maxExpands + ' expands, ' + b.expandsLeft + ' left');
    }
    if (b.maxExpandPercent !== null && b.maxExpandPercent !== undefined) {
      parts.push(b.percentUsed + '% of ' + b.maxExpandPercent + '%, ' + b.percentLeft + '% left');
    }
    return (parts.join('; ') || 'off') + ' (per ' + b.window + ')';
  }
  function frozen(g) { return !!(g.enabled && g.freeze && g.freeze.blocked); }
  function freezeText(g) {
    var f = g.enabled ? g.freeze : null;
    if (!f) { return 'none'; }
    if (f.active) { return 'active: ' + f.active.name + ' until ' + f.active.end; }
    if (f.blocked) { return 'active: ' + f.message; }
    if (f.next) { return 'next: ' + f.next.name + ' ' + f.next.start + ' - ' + f.next.end; }
    return 'none';
  }
  function percentText(v) { return (v === null || v === undefined) ? '-' : v + '%'; }
  function problemText(p) { return p ? p.reason + ': ' + p.message : '-'; }
  function upstreamOf(g) { return g.enabled ? g.upstream : null; }
  function upstreamText(g) {
    var u = upstreamOf(g);
    if (!u) { return '-'; }
    return (u.ready ? 'ready' : 'waiting') + ': ' + u.message;
  }
  function fleetRows(doc) {
    return (doc.fleets || []).map(function (f) {
      var d = f.decision || {}, g = f.governance || {}, gu = f.guards || {};
      var cells = [
        ['fleet', text(f.fleetId), ''],
        ['canary', percentText(f.canaryPercent), ''],
        ['state', text(f.state), f.manualPause ? 'warn' : ''],
        ['mode', text(f.mode), ''],
        ['decision', text(d.decision || 'unusable'), ''],
        ['decisionTraceId', text(d.traceId), ''],
        ['decisionAge', text(d.age), ''],
        ['decisionStale', d.stale ? 'stale' : 'fresh', d.stale ? 'bad' : ''],
        ['actor', text(g.actor), ''],
        ['approvalRef', text(g.approvalRef), ''],
        ['reviewBy', text(g.reviewBy), ''],
        ['daysLeft', daysText(g), g.warning ? 'warn' : ''],
        ['cooldown', cooldownText(gu), ''],
        ['budget', budgetText(gu), ''],
        ['freeze', freezeText(gu), frozen(gu) ? 'warn' : ''],
        ['upstream', text(upstreamText(gu)), upstreamOf(gu) && !upstreamOf(gu).ready ? 'warn' : ''],
        ['pending', f.pendingFiles || 0, ''],
        ['deferred', len(f.deferred), ''],
        ['problem', text(problemText(f.problem)), f.problem ? 'bad' : '']
      ];
      if (f.problem) {  // its state could not be read: nothing else to tell
        var keep = {fleet: 1, state: 1, problem: 1};
        cells = cells.map(function (c) { return keep[c[0]] ? c : [c[0], '-', '']; });
      }
      return [String(f.fleetId), cells];
    });
  }
  function intentRows(doc) {
    var rows = [];
    (doc.fleets || []).forEach(function (f) {
      (f.pending || []).forEach(function (i) {
        rows.push([f.fleetId + '/' + i.intentFile, [
          ['fleet', text(f.fleetId), ''],
          ['intent', text(i.intentFile), ''],
          ['action', text(i.action), ''],
          ['predicted', text(i.status), statusClass(i.status)],
          ['reasons', (i.reasonCodes || []).join(', ') || '-', ''],
          ['notBefore', text(i.notBefore), ''],
          ['actor', text(i.actor), ''],
          ['approvalRef', text(i.approvalRef), '']
        ]]);
      });
    });
    return rows;
  }
  function historyRows(doc) {
    return (doc.history || []).map(function (e) {
      var c = e.canary, shown = '-';
      if (c) { shown = (c.after === null || c.after === undefined) ? String(c.before) : c.before + ' -> ' + c.after; }
      return [String(e.commit), [
        ['time', text(e.time), ''],
        ['fleet', text(e.fleet), ''],
        ['action', text(e.action), ''],
        ['status', text(e.status), statusClass(e.status)],
        ['canary', shown, ''],
        ['actor', text(e.actor), ''],
        ['approvalRef', text(e.approvalRef), ''],
        ['commit', String(e.commit || '').slice(0, 12) || '-', ''],
        ['verification', text(e.verification), e.verification === 'forged' ? 'bad' : '']
      ]];
    });
  }
  function controllerRows(doc) {
    var s = doc.controller;
    if (!s) { return []; }
    var err = s.lastError, b = s.backoffSeconds;
    return [['controller', [
      ['lastPass', text(s.lastPassAt), ''],
      ['duration', typeof s.lastPassSeconds === 'number' ? s.lastPassSeconds.toFixed(3) + ' s' : '-', ''],
      ['errors', (s.failures || 0) + ' in a row, ' + (s.errorsTotal || 0) + ' in all', s.failures ? 'bad' : ''],
      ['lastError', err ? err.reason + ': ' + err.message : '-', ''],
      ['backoff', typeof b === 'number' ? b.toFixed(1) + ' s, retry at ' + s.retryAt : '-', ''],
      ['ready', s.ready ? 'ready' : 'not ready', s.ready ? '' : 'bad']
    ]]];
  }
  function auditLines(doc) {
    var a = doc.audit || {}, lines = [];
    if (a.problem) { lines.push('audit could not run: ' + a.problem); }
    (a.blocking || []).forEach(function (l) { lines.push('blocking: ' + l); });
    var u = a.unresolved || {};
    Object.keys(u).forEach(function (k) { if (u[k]) { lines.push('unresolved ' + k + ': ' + u[k]); } });
    return lines.length ? lines : ['no unresolved findings'];
  }
  function fillTable(id, rows) {
    var table = document.getElementById(id);
    if (!table) { return; }
    var body = document.createElement('tbody');
    rows.forEach(function (row) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-key', row[0]);
      row[1].forEach(function (cell) {
        var td = document.createElement('td');
        td.setAttribute('data-field', cell[0]);
        td.textContent = cell[1];
        if (cell[2]) { td.className = cell[2]; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.replaceChild(body, table.tBodies[0]);
  }
  function fillList(id, lines) {
    var list = document.getElementById(id);
    if (!list) { return; }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    lines.forEach(function (line) {
      var li = document.createElement('li');
      li.textContent = line;
      list.appendChild(li);
    });
  }
  function render(doc) {
    var head = String(doc.head || '').slice(0, 12) || '-';
    document.getElementById('meta').textContent =
      'repository ' + text(doc.repo) + ' at ' + head + ', as of ' + text(doc.generatedAt);
    fillList('warnings', doc.warnings || []);
    fillTable('fleets', fleetRows(doc));
    fillTable('intents', intentRows(doc));
    fillTable('controller', controllerRows(doc));
    fillList('audit', auditLines(doc));
    fillTable('history', historyRows(doc));
    var h = document.getElementById('history-title');
    if (h) { h.textContent = 'History (last ' + (doc.history || []).length + ' reconcile commits)'; }
  }
  function poll() {
    var live = document.getElementById('live');
    fetch('/api/status', {cache: 'no-store', credentials: 'same-origin'})
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(function (doc) {
        render(doc);
        live.textContent = 'live: updated ' + new Date().toISOString().slice(11, 19) + 'Z';
        live.className = 'muted';
      })
      .catch(function (e) { live.textContent = 'live: not updated (' + e.message + ')'; live.className = 'bad'; })
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }
  document.addEventListener('DOMContentLoaded', function () { window.setTimeout(poll, POLL_MS); });
})();
