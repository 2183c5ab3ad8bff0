"""The dashboard's own CSS and JavaScript: small, written here, served by the browser or written beside the static
pages (no CDN, no network)."""

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

# The static site's renderer (monoscope.dashboard.static): loads data files written as scripts, unpacks their
# gzipped JSON with the browser's DecompressionStream, and draws the list (index.html) or one feature
# (feature.html#<i>) with the same markup, classes and ids as the server's pages (render.py).
STATIC_JS = r"""
(function () {
  'use strict';
  var M = window.monoscope = {}, arrived = {}, cache = {};
  M.data = function (name, b64) { if (arrived[name]) arrived[name](b64); };
  function unpack(b64) {
    var bin = atob(b64), u = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).json();
  }
  function load(name) {
    if (!cache[name]) {
      cache[name] = new Promise(function (resolve, reject) {
        arrived[name] = resolve;
        var s = document.createElement('script');
        s.src = 'data/' + name + '.js';
        s.onerror = function () { reject(new Error('cannot read data/' + name + '.js')); };
        document.head.appendChild(s);
      }).then(unpack);
    }
    return cache[name];
  }
  M.load = load;
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' }[c];
    });
  }
  function visible(t) {
    var v = t.replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5').replace(/\r/g, '\u240d');
    return v && v.trim() === '' ? v.replace(/ /g, '\u2423') : v;
  }
  function g(v, d) {  // Python's '{:.{d}g}', so numbers read the same as on the server's pages
    v = Number(v);
    if (!isFinite(v) || v === 0) return String(v);
    var s = v.toExponential(d - 1).split('e'), e = parseInt(s[1], 10);
    if (e < -4 || e >= d) {
      var m = s[0].indexOf('.') >= 0 ? s[0].replace(/0+$/, '').replace(/\.$/, '') : s[0];
      return m + 'e' + (e < 0 ? '-' : '+') + (Math.abs(e) < 10 ? '0' : '') + Math.abs(e);
    }
    return String(Number(v.toFixed(Math.max(0, d - 1 - e))));
  }
  function e3(v) {  // Python's '{:.3e}'
    var s = Number(v).toExponential(3).split('e'), e = parseInt(s[1], 10);
    return s[0] + 'e' + (e < 0 ? '-' : '+') + (Math.abs(e) < 10 ? '0' : '') + Math.abs(e);
  }
  function signed(v) { return (v >= 0 ? '+' : '') + v.toFixed(3); }
  function histogram(lo, hi, counts, title, color, log) {
    if (!counts.length) return '<p class="muted">' + esc(title) + ': no data</p>';
    var W = 320, H = 110, pb = 16, pt = 4, ph = H - pb - pt, bw = W / counts.length, n = counts.length;
    var hs = counts.map(function (c) { return log ? Math.log10(1 + c) : c; });
    var top = Math.max.apply(null, hs) || 1, bars = '';
    function edge(j) { return lo + (hi - lo) * j / n; }
    for (var j = 0; j < n; j++) {
      var bh = ph * hs[j] / top;
      bars += '<rect x="' + (j * bw).toFixed(2) + '" y="' + (pt + ph - bh).toFixed(2) + '" width="' +
        Math.max(bw - 0.5, 0.5).toFixed(2) + '" height="' + bh.toFixed(2) + '" fill="' + color + '"><title>[' +
        g(edge(j), 3) + ', ' + g(edge(j + 1), 3) + '): ' + counts[j] + '</title></rect>';
    }
    return '<svg class="hist" role="img" aria-label="' + esc(title) + '" width="' + W + '" height="' + H +
      '" viewBox="0 0 ' + W + ' ' + H + '" xmlns="http://www.w3.org/2000/svg">' + bars + '<line x1="0" y1="' +
      (H - pb) + '" x2="' + W + '" y2="' + (H - pb) + '" stroke="#999" stroke-width="0.5"/><text x="0" y="' +
      (H - 3) + '">' + g(lo, 3) + '</text><text x="' + W + '" y="' + (H - 3) + '" text-anchor="end">' + g(hi, 3) +
      '</text></svg>';
  }
  function exported(meta, j) {
    return meta.features === null || meta._set[j] === true;
  }
  function featureLinks(meta, flat) {
    if (!flat.length) return '<span class="muted">none</span>';
    var out = [];
    for (var k = 0; k < flat.length; k += 2) {
      var j = flat[k], label = '#' + j;
      out.push((exported(meta, j) ? '<a class="pill" href="feature.html#' + j + '">' + label + '</a>'
        : '<span class="pill" title="not in this export">' + label + '</span>') +
        '<span class="muted">' + flat[k + 1].toFixed(3) + '</span>');
    }
    return out.join(' ');
  }
  function neuronPills(flat) {
    var out = [];
    for (var k = 0; k < flat.length; k += 2) {
      out.push('<span class="pill">n' + flat[k] + ' <span class="muted">' + signed(flat[k + 1]) + '</span></span>');
    }
    return out.join(' ');
  }
  function tokenPills(vocab, flat, cls) {
    var out = '';
    for (var k = 0; k < flat.length; k += 2) {
      out += '<span class="pill ' + cls + '">' + esc(visible(vocab[flat[k]])) + ' <span class="muted">' +
        signed(flat[k + 1]) + '</span></span>';
    }
    return out;
  }
  // one example: [act, row, col, doc, pos, start, tokens, acts (thousandths of max), loss?]
  function example(meta, ex, max) {
    var act = ex[0], row = ex[1], col = ex[2], doc = ex[3], pos = ex[4], start = ex[5], toks = ex[6],
      acts = ex[7], loss = ex[8] || null, peak = col - start, spans = '';
    for (var j = 0; j < toks.length; j++) {
      var cls = ['tok'], style = '', tip = [], a = acts[j] / meta.act_levels;
      if (a > 0) {
        style = ' style="background:rgba(255,128,0,' + (0.1 + 0.8 * Math.min(1, a)).toFixed(3) + ')"';
        tip.push('act ' + g(a * max, 3));
      }
      if (loss && Math.abs(loss[j]) > 1e-4) {
        cls.push(loss[j] > 0 ? 'up' : 'down');
        tip.push('\u0394loss if ablated ' + (loss[j] >= 0 ? '+' : '') + loss[j].toFixed(4));
      }
      if (j === peak) cls.push('peak');
      var text = vocab(meta, toks[j]);
      spans += '<span class="' + cls.join(' ') + '"' + style + (tip.length ? ' title="' + esc(tip.join(' \u00b7 ')) +
        '"' : '') + '>' + esc(text.trim() === '' ? visible(text) : text) + '</span>';
    }
    var dom = '';
    if (doc >= 0 && doc < meta.doc_domain.length) dom = ' (' + esc(meta.domain_names[meta.doc_domain[doc]]) + ')';
    return '<div class="ex">' + spans + '<div class="meta">act ' + g(act, 4) + ' \u00b7 doc ' + doc + dom + ' pos ' +
      pos + ' \u00b7 context row ' + row + ' col ' + col + '</div></div>';
  }
  function vocab(meta, t) { return meta.vocab[t]; }
  function featureHTML(meta, i, f) {
    var m = f.m, p = [];
    p.push('<div class="panel" id="act-hist"><h3>activation histogram</h3>' +
      histogram(0, f.h[0], f.h[1], 'activation histogram', '#3b6ea8', false) +
      '<div class="meta">non-zero activations, linear bins</div></div>');
    if (f.l) {
      p.push('<div class="panel" id="logits"><h3>logit effects (direct path)</h3><div>promotes: ' +
        tokenPills(meta.vocab, f.l[0], 'pos') + '</div><div>suppresses: ' + tokenPills(meta.vocab, f.l[1], 'neg') +
        '</div>' + histogram(f.l[2], f.l[3], f.l[4], 'logit effect histogram', '#8e44ad', true) +
        '<div class="meta">effect on every token\'s logit, log10(1+count) bars</div></div>');
    } else {
      p.push('<div class="panel" id="logits"><h3>logit effects</h3>' +
        '<span class="muted">' + esc(meta.logit_note) + '</span></div>');
    }
    p.push('<div class="panel" id="neighbours"><h3>nearest features (decoder cosine)</h3>' +
      featureLinks(meta, f.nb) + '</div>');
    p.push('<div class="panel" id="corr-features"><h3>correlated features (activation, first ' + meta.corr_tokens +
      ' tokens)</h3>' + featureLinks(meta, f.cf) + '</div>');
    p.push('<div class="panel" id="neurons"><h3>neuron alignment</h3><div>decoder weight: ' + neuronPills(f.ne) +
      '</div><div>activation correlation: ' + (neuronPills(f.cn) || '<span class="muted">none</span>') +
      '</div></div>');
    var tops = f.t.map(function (e) { return example(meta, e, m); }).join('') ||
      '<p class="muted">never active: no examples</p>';
    var bins = {}, nb = meta.quantile_bins;
    f.q.forEach(function (e) { (bins[e[0]] = bins[e[0]] || []).push(e.slice(1)); });
    var qs = Object.keys(bins).map(Number).sort(function (a, b) { return b - a; }).map(function (b) {
      return '<h4>activation in [' + (b / nb).toFixed(1) + ', ' + ((b + 1) / nb).toFixed(1) + ') \u00d7 max</h4>' +
        bins[b].map(function (e) { return example(meta, e, m); }).join('');
    }).join('');
    var legend = '<p class="meta">orange: activation (relative to the max); boxed: the example\'s token; ' +
      'underline: change in loss of predicting that token when the feature is ablated in the window ' +
      '(red: loss rises, so the feature helped; blue: loss falls). Hover a token for numbers.</p>';
    return '<h2>feature #' + i + '</h2><p>density ' + e3(f.d) + ' (' + f.n + ' of ' +
      meta.n_tokens + ' tokens of the ' + esc(meta.split) + ' split) \u00b7 max activation ' + g(m, 4) +
      ' \u00b7 mean when active ' + g(f.a, 4) + ' \u00b7 SAE <code>' + esc(meta.sae_path) + '</code> at <code>' +
      esc(meta.hook) + '</code></p><div class="grid">' + p.join('') + '</div>' +
      '<div class="panel" id="top-examples"><h3>top activations</h3>' + legend + tops + '</div>' +
      '<div class="panel" id="quantiles"><h3>samples from activation intervals</h3>' +
      (qs || '<p class="muted">none</p>') + '</div>';
  }
  function withMeta(meta) {
    if (!meta._set) {
      meta._set = {};
      (meta.features || []).forEach(function (j) { meta._set[j] = true; });
    }
    return meta;
  }
  function showFeature(el) {
    var i = parseInt(location.hash.slice(1), 10);
    load('meta').then(function (meta) {
      withMeta(meta);
      if (!(i >= 0 && i < meta.d_sae) || !exported(meta, i)) {
        document.title = 'not found';
        el.innerHTML = '<h2>not found</h2><p>' + (isNaN(i) ? 'no feature named in the address (feature.html#N)'
          : 'feature #' + i + ' is not in this export') + '</p><p><a href="index.html">all features</a></p>';
        document.body.setAttribute('data-ready', '1');
        return;
      }
      var k = Math.floor(i / meta.shard), name = 'f_' + ('0000' + k).slice(-5);
      return load(name).then(function (shard) {
        document.title = 'feature ' + i;
        el.innerHTML = featureHTML(meta, i, shard[i]);
        window.scrollTo(0, 0);
        document.body.setAttribute('data-ready', '1');
      });
    }).catch(function (e) { el.textContent = String(e); throw e; });
  }
  function showIndex(body) {
    var info = document.getElementById('page-info'), key = 'id', desc = false, page = 0, per = 100, rows = [];
    function draw() {
      rows.sort(function (a, b) { var d = a[key] - b[key]; if (d === 0) d = a.id - b.id; return desc ? -d : d; });
      var end = Math.min(rows.length, (page + 1) * per), html = '';
      for (var i = page * per; i < end; i++) {
        var r = rows[i];
        html += '<tr><td><a href="feature.html#' + r.id + '">#' + r.id + '</a></td><td>' +
          r.density.toExponential(2) + '</td><td>' + r.max_act.toFixed(3) + '</td><td>' + esc(r.label) + '</td></tr>';
      }
      body.innerHTML = html;
      info.textContent = (rows.length ? page * per + 1 : 0) + '\u2013' + end + ' of ' + rows.length +
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
    load('index').then(function (data) {
      rows = data.map(function (r) { return { id: r[0], density: r[1], max_act: r[2], label: r[3] }; });
      draw();
      document.body.setAttribute('data-ready', '1');
    }).catch(function (e) { info.textContent = String(e); throw e; });
  }
  var rowsEl = document.getElementById('feature-rows'), featEl = document.getElementById('feature');
  if (rowsEl) showIndex(rowsEl);
  if (featEl) {
    showFeature(featEl);
    window.addEventListener('hashchange', function () { showFeature(featEl); });
  }
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
