"""The dashboard's own CSS and JavaScript: small, written here, inlined into static pages (no CDN, no network)."""

CSS = """
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --accent:#3b6ea8; --act:255,128,0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; color: var(--fg); margin: 0;
       background: #fafbfc; }
header { background: #1d2330; color: #fff; padding: 8px 18px; display: flex; gap: 18px; align-items: baseline; }
header a { color: #cfe0ff; text-decoration: none; } header b { color: #fff; }
main { padding: 14px 18px; max-width: 1200px; }
a { color: var(--accent); }
table { border-collapse: collapse; background: #fff; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; font-variant-numeric: tabular-nums; }
th button, .sort a { font: inherit; background: none; border: 0; color: var(--accent); cursor: pointer; padding: 0; }
.muted { color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.panel h3 { margin: 2px 0 6px; font-size: 14px; }
.ex { font: 13px/1.9 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; word-break: break-all;
      border-bottom: 1px dashed var(--line); padding: 2px 0; }
.tok { border-radius: 2px; padding: 1px 0; }
.tok.peak { outline: 1px solid rgb(var(--act)); }
.tok.up { border-bottom: 2px solid #c0392b; } .tok.down { border-bottom: 2px solid #2e86c1; }
.tok.live { cursor: pointer; }
.tok.sel { outline: 2px solid var(--fg); }
.meta { font-size: 12px; color: var(--muted); }
.pill { display: inline-block; padding: 0 6px; margin: 1px; border-radius: 9px; background: #eef2f7; font-size: 12px; }
svg text { font-size: 10px; fill: var(--muted); }
textarea { width: 100%; font: 13px ui-monospace, monospace; }
.pager a, .pager span { margin-right: 10px; }
"""

# Sorts the inline feature list of the static index page and pages through it.
LIST_JS = """
(function () {
  var el = document.getElementById('feature-data');
  if (!el) return;
  var rows = JSON.parse(el.textContent), key = 'id', desc = false, page = 0, per = 100;
  var body = document.getElementById('feature-rows'), info = document.getElementById('page-info');
  function cell(tr, text) {
    var td = document.createElement('td'); td.textContent = text; tr.appendChild(td); return td;
  }
  function draw() {
    rows.sort(function (a, b) { var d = a[key] - b[key]; if (d === 0) d = a.id - b.id; return desc ? -d : d; });
    body.textContent = '';
    var end = Math.min(rows.length, (page + 1) * per);
    for (var i = page * per; i < end; i++) {
      var r = rows[i], tr = document.createElement('tr'), td = document.createElement('td'),
        a = document.createElement('a');
      a.href = 'features/' + r.id + '.html'; a.textContent = '#' + r.id; td.appendChild(a); tr.appendChild(td);
      cell(tr, r.density.toExponential(2)); cell(tr, r.max_act.toFixed(3)); cell(tr, r.label);
      body.appendChild(tr);
    }
    info.textContent = (page * per + 1) + '–' + end + ' of ' + rows.length +
      ' (sorted by ' + key + (desc ? ', descending' : '') + ')';
  }
  document.querySelectorAll('button[data-sort]').forEach(function (b) {
    b.addEventListener('click', function () {
      var k = b.getAttribute('data-sort'); desc = (k === key) ? !desc : (k !== 'id'); key = k; page = 0; draw();
    });
  });
  document.getElementById('prev').addEventListener('click', function () { if (page > 0) { page--; draw(); } });
  document.getElementById('next').addEventListener('click', function () {
    if ((page + 1) * per < rows.length) { page++; draw(); }
  });
  draw();
})();
"""

# Type text -> POST /api/activations -> tokens highlighted by their strongest feature; click a token for its features.
LIVE_JS = """
(function () {
  var form = document.getElementById('live-form');
  if (!form) return;
  var out = document.getElementById('live-tokens'), side = document.getElementById('live-features');
  var status = document.getElementById('live-status');
  var maxAct = JSON.parse(document.getElementById('max-acts').textContent);
  function show(tok, span) {
    document.querySelectorAll('.tok.sel').forEach(function (s) { s.classList.remove('sel'); });
    span.classList.add('sel');
    side.textContent = '';
    var h = document.createElement('div'); h.textContent = 'token ' + JSON.stringify(tok.text) + ':';
    side.appendChild(h);
    if (!tok.features.length) {
      var n = document.createElement('div'); n.className = 'muted'; n.textContent = 'no active features';
      side.appendChild(n);
    }
    tok.features.forEach(function (f) {
      var d = document.createElement('div'), a = document.createElement('a');
      a.href = '/feature/' + f[0]; a.textContent = 'feature #' + f[0]; a.className = 'feature-link';
      d.appendChild(a);
      d.appendChild(document.createTextNode(
        '  ' + f[1].toFixed(3) + ' (' + Math.round(100 * f[1] / (maxAct[f[0]] || f[1])) + '% of max)'));
      side.appendChild(d);
    });
  }
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    status.textContent = 'running…';
    fetch('/api/activations', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: document.getElementById('live-text').value }) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = res.j.detail || 'error'; return; }
        out.textContent = '';
        res.j.tokens.forEach(function (tok) {
          var s = document.createElement('span'); s.className = 'tok live'; s.textContent = tok.text;
          if (tok.features.length) {
            var f = tok.features[0], a = Math.min(1, f[1] / (maxAct[f[0]] || f[1]));
            s.style.background = 'rgba(255,128,0,' + (0.15 + 0.75 * a).toFixed(3) + ')';
            s.classList.add('active'); s.title = 'feature #' + f[0] + ': ' + f[1].toFixed(3);
          }
          s.addEventListener('click', function () { show(tok, s); });
          out.appendChild(s);
        });
        status.textContent = res.j.tokens.length + ' tokens in ' + res.j.contexts + ' context(s)';
      })
      .catch(function (e) { status.textContent = 'request failed: ' + e; });
  });
})();
"""
