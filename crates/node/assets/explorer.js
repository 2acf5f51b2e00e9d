// The epoch-rfq explorer. Plain JavaScript, no dependencies. Every value from the network is
// put into the page with textContent or setAttribute on known attributes: never as HTML.
'use strict';

(function () {
  const API = '/explorer/api';
  const SVG = 'http://www.w3.org/2000/svg';
  const STATE_LABELS = {
    open: ['○', 'open'],
    claim_phase: ['◔', 'claim phase'],
    unclaimed: ['◌', 'unclaimed'],
    claimed: ['◑', 'claimed'],
    proven: ['●', 'proven'],
    pruned: ['✕', 'pruned'],
  };
  const EVENT_LABELS = {
    claimed: 'Claimed (bond staked)',
    proven: 'Proven (prover paid)',
    slashed: 'Bond slashed',
    pruned: 'Blocks pruned',
  };

  let status = null;
  let epochs = [];
  let selected = null; // epoch number the user chose, or null to follow the latest
  let clockOffset = 0; // server time minus local time, seconds
  let refreshTimer = null;

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else node.setAttribute(k, String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function shortAddr(a) {
    if (typeof a !== 'string') return '–';
    return a.length > 12 ? a.slice(0, 6) + '…' + a.slice(-4) : a;
  }

  function addr(a) {
    return el('code', { class: 'addr', title: a, 'data-address': a }, shortAddr(a));
  }

  function isDigits(s) {
    return typeof s === 'string' && /^[0-9]+$/.test(s);
  }

  // Exact decimal string of a base-unit amount in tokens (BigInt: no rounding).
  function tokens(base) {
    if (!isDigits(base) || !status) return '';
    const d = BigInt(status.token.decimals);
    const unit = 10n ** d;
    const v = BigInt(base);
    const whole = v / unit;
    let frac = (v % unit).toString().padStart(Number(d), '0').replace(/0+$/, '');
    return whole.toString() + (frac ? '.' + frac : '') + ' ' + status.token.symbol;
  }

  // An amount: base units, then tokens underneath.
  function amount(base) {
    if (!isDigits(base)) return el('span', { class: 'muted' }, '–');
    return el('span', { class: 'amount', 'data-base': base },
      el('span', { class: 'base' }, base),
      el('span', { class: 'tokens' }, tokens(base)));
  }

  function stateBadge(state, slashed) {
    const [icon, label] = STATE_LABELS[state] || ['?', state];
    const badge = el('span', { class: 'badge state-' + state, 'data-state': state },
      el('span', { 'aria-hidden': 'true' }, icon + ' '), label);
    if (slashed) {
      badge.append(el('span', { class: 'slashed', 'data-slashed': 'true' }, ' · slashed'));
    }
    return badge;
  }

  function txCell(hash) {
    if (typeof hash !== 'string') return '–';
    const url = status && status.txUrl;
    const text = hash.slice(0, 10) + '…' + hash.slice(-6);
    if (url && /^0x[0-9a-f]{64}$/.test(hash)) {
      return el('a', { href: url.replace('{tx}', hash), rel: 'noreferrer noopener', title: hash, 'data-tx': hash }, text);
    }
    return el('code', { title: hash, 'data-tx': hash }, text);
  }

  function secs(n) {
    if (n < 60) return n + ' s';
    return Math.floor(n / 60) + ' min ' + (n % 60) + ' s';
  }

  async function getJson(path) {
    const r = await fetch(API + path, { headers: { accept: 'application/json' }, cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
    return r.json();
  }

  // ------------------------------------------------------------------ status

  function renderStatus() {
    const s = status;
    const set = (id, text, cls) => {
      const n = document.getElementById(id);
      n.textContent = text;
      if (cls !== undefined) n.className = cls;
    };
    set('st-ready', s.ready ? '✓ ready' : '… starting', s.ready ? 'good' : 'warn');
    set('st-epoch', s.currentEpoch === null ? '–' : String(s.currentEpoch));
    set('st-slot', s.currentSlot === null ? '–' : String(s.currentSlot));
    set('st-block', s.l1BlockNumber === null ? '–' : String(s.l1BlockNumber));
    const lag = s.l1LagSecs;
    set('st-lag', lag === null ? '–' : secs(lag), lag !== null && lag > 60 ? 'warn' : '');
    set('st-peers', s.gossip ? String(s.peers) : 'gossip off');
    set('st-pool', s.poolQuotes + ' quotes');
    document.getElementById('version').textContent =
      s.version + ' · chain ' + (s.chainId === null ? '?' : s.chainId) + ' · rollup ' + s.rollupAddress +
      ' · keeps ' + s.historyEpochs + ' epochs';
    clockOffset = s.serverTime - Math.floor(Date.now() / 1000);
  }

  // ------------------------------------------------------------------ timeline

  function renderTimeline() {
    const list = document.getElementById('timeline');
    // Keep the keyboard focus on the same epoch across re-renders.
    const focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest('#timeline li[data-epoch]') : null;
    const focusedEpoch = focused ? focused.getAttribute('data-epoch') : null;
    clear(list);
    for (const e of epochs.slice(0, 24)) {
      const item = el('li', {
        class: 'epoch' + (e.epoch === shownEpoch() ? ' selected' : ''),
        'data-epoch': e.epoch, 'data-state': e.state,
      });
      const button = el('button', { type: 'button', 'aria-pressed': e.epoch === shownEpoch() ? 'true' : 'false' },
        el('span', { class: 'num-label' }, 'Epoch ' + e.epoch),
        stateBadge(e.state, e.slashed));
      if (e.state === 'claim_phase' && e.claimPhaseEndsInSecs !== null) {
        const endsAt = Math.floor(Date.now() / 1000) + clockOffset + e.claimPhaseEndsInSecs;
        button.append(el('span', { class: 'countdown', 'data-ends-at': endsAt }, ''));
      }
      const facts = [];
      facts.push(e.quotes + (e.quotes === 1 ? ' quote' : ' quotes'));
      if (e.winner) facts.push('won by ' + shortAddr(e.winner) + ' at ' + e.winningFeeBps + ' bps');
      button.append(el('span', { class: 'facts' }, facts.join(' · ')));
      button.addEventListener('click', () => select(e.epoch));
      item.append(button);
      list.append(item);
    }
    if (epochs.length === 0) list.append(el('li', { class: 'muted' }, 'No epochs yet.'));
    if (focusedEpoch !== null) {
      const again = list.querySelector('li[data-epoch="' + focusedEpoch + '"] button');
      if (again) again.focus();
    }
    tickCountdowns();
  }

  function tickCountdowns() {
    const now = Math.floor(Date.now() / 1000) + clockOffset;
    for (const n of document.querySelectorAll('.countdown')) {
      const left = Math.max(0, Number(n.getAttribute('data-ends-at')) - now);
      n.textContent = 'claim phase ends in ' + secs(left);
    }
  }

  // ------------------------------------------------------------------ auction

  function shownEpoch() {
    if (selected !== null) return selected;
    // Follow the newest epoch that has quotes or a claim; else the newest.
    const busy = epochs.find((e) => e.quotes > 0 || e.winner);
    return busy ? busy.epoch : (epochs[0] ? epochs[0].epoch : null);
  }

  function select(epoch) {
    selected = epoch;
    history.replaceState(null, '', '#epoch=' + epoch);
    renderTimeline();
    loadAuction();
  }

  async function loadAuction() {
    const epoch = shownEpoch();
    const section = document.getElementById('auction');
    if (epoch === null) return;
    let d;
    try {
      d = await getJson('/epochs/' + epoch);
    } catch (err) {
      document.getElementById('auction-summary').textContent = 'Epoch ' + epoch + ': ' + err.message;
      return;
    }
    if (epoch !== shownEpoch()) return; // the user moved on meanwhile
    section.setAttribute('data-epoch', String(d.epoch));
    section.setAttribute('data-state', d.state);
    document.getElementById('auction-title').textContent = 'Auction of epoch ' + d.epoch;
    const summary = document.getElementById('auction-summary');
    clear(summary);
    summary.append(stateBadge(d.state, d.slashed));
    if (d.fromBlock !== null) summary.append(' · L2 blocks ' + d.fromBlock + '–' + d.toBlock);
    if (d.totalFees !== null) summary.append(' · fees ', amount(d.totalFees));
    if (d.claimPhase) summary.append(' · claim phase slots ' + d.claimPhase[0] + '–' + d.claimPhase[1]);
    if (d.winner) {
      summary.append(' · winner ', el('span', { id: 'winner', 'data-address': d.winner }, addr(d.winner)),
        ' at ', el('span', { id: 'winning-fee', 'data-bps': d.winningFeeBps }, d.winningFeeBps + ' bps'),
        ', bond ', el('span', { id: 'winning-bond' }, amount(d.bond)));
    }
    if (d.proverReward) summary.append(' · paid ', el('span', { id: 'reward' }, amount(d.proverReward)));
    if (d.quotesNotRecorded > 0) summary.append(' · ' + d.quotesNotRecorded + ' more quotes not recorded');

    const body = document.querySelector('#quotes tbody');
    clear(body);
    for (const q of d.quotes) {
      const outcome = el('td', { class: q.accepted ? 'ok' : 'refused' },
        (q.accepted ? '✓ ' : '✗ ') + q.outcome);
      const proverCell = el('td', null, addr(q.prover));
      if (q.winner) proverCell.append(el('strong', { class: 'winner-mark' }, ' ★ winner'));
      body.append(el('tr', {
        class: 'quote' + (q.winner ? ' winner' : ''), 'data-prover': q.prover,
        'data-bps': q.basisPointFee, 'data-bond': q.bond, 'data-winner': q.winner ? 'true' : 'false',
        'data-path': q.path, 'data-outcome': q.outcome,
      },
      proverCell,
      el('td', { class: 'num' }, String(q.basisPointFee)),
      el('td', { class: 'num' }, amount(q.bond)),
      el('td', { class: 'num' }, String(q.validUntilSlot)),
      el('td', null, q.path),
      outcome));
    }
    if (d.quotes.length === 0) {
      body.append(el('tr', null, el('td', { colspan: 6, class: 'muted' }, 'No quote seen for this epoch.')));
    }

    const events = document.querySelector('#events tbody');
    clear(events);
    for (const e of d.events) {
      events.append(el('tr', { class: 'event event-' + e.kind, 'data-kind': e.kind, 'data-prover': e.prover, 'data-amount': e.amount },
        el('td', null, EVENT_LABELS[e.kind] || e.kind,
          e.basisPointFee !== null ? ' at ' + e.basisPointFee + ' bps' : '',
          e.fromBlock !== null ? ' (L2 blocks ' + e.fromBlock + '–' + e.toBlock + ')' : ''),
        el('td', null, e.prover ? addr(e.prover) : '–'),
        el('td', { class: 'num' }, amount(e.amount)),
        el('td', { class: 'num' }, String(e.l1Block)),
        el('td', null, txCell(e.txHash))));
    }
    if (d.events.length === 0) {
      events.append(el('tr', null, el('td', { colspan: 5, class: 'muted' }, 'Nothing on L1 yet.')));
    }
  }

  // ------------------------------------------------------------------ charts

  function chart(id, points, label) {
    const box = document.getElementById(id);
    clear(box);
    const w = 320, h = 120, pad = 22;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('role', 'img');
    const values = points.filter((p) => p.value !== null);
    svg.setAttribute('aria-label', label + ': ' + values.map((p) => 'epoch ' + p.epoch + ' ' + p.value).join(', '));
    const max = Math.max(1, ...values.map((p) => p.value));
    const n = Math.max(points.length, 1);
    const bw = (w - pad) / n;
    const axis = document.createElementNS(SVG, 'line');
    axis.setAttribute('x1', pad); axis.setAttribute('x2', w);
    axis.setAttribute('y1', h - pad); axis.setAttribute('y2', h - pad);
    axis.setAttribute('class', 'axis');
    svg.append(axis);
    const top = document.createElementNS(SVG, 'text');
    top.setAttribute('x', 0); top.setAttribute('y', 10); top.setAttribute('class', 'tick');
    top.textContent = String(max);
    svg.append(top);
    points.forEach((p, i) => {
      const x = pad + i * bw;
      if (p.value !== null) {
        const bh = ((h - 2 * pad) * p.value) / max;
        const r = document.createElementNS(SVG, 'rect');
        r.setAttribute('x', x + 2); r.setAttribute('width', Math.max(1, bw - 4));
        r.setAttribute('y', h - pad - bh); r.setAttribute('height', Math.max(1, bh));
        r.setAttribute('class', 'bar');
        const t = document.createElementNS(SVG, 'title');
        t.textContent = 'epoch ' + p.epoch + ': ' + p.value;
        r.append(t);
        svg.append(r);
      }
      if (n <= 12 || i % Math.ceil(n / 12) === 0) {
        const t = document.createElementNS(SVG, 'text');
        t.setAttribute('x', x + bw / 2); t.setAttribute('y', h - 6);
        t.setAttribute('class', 'tick'); t.setAttribute('text-anchor', 'middle');
        t.textContent = String(p.epoch);
        svg.append(t);
      }
    });
    box.append(svg);
  }

  function renderCharts() {
    const recent = epochs.slice(0, 30).reverse();
    chart('chart-fee', recent.map((e) => ({ epoch: e.epoch, value: e.winningFeeBps })), 'Winning fee in bps per epoch');
    chart('chart-quotes', recent.map((e) => ({ epoch: e.epoch, value: e.quotes })), 'Quotes seen per epoch');
  }

  // ------------------------------------------------------------------ provers

  function renderProvers(rows) {
    const body = document.querySelector('#provers tbody');
    clear(body);
    for (const p of rows) {
      body.append(el('tr', { 'data-prover': p.prover, 'data-slashes': p.slashes },
        el('td', null, addr(p.prover)),
        el('td', { class: 'num' }, p.quotes + ' (' + p.quotesAccepted + ' accepted)'),
        el('td', { class: 'num' }, String(p.wins)),
        el('td', { class: 'num' }, p.winRate === null ? '–' : Math.round(p.winRate * 100) + ' %'),
        el('td', { class: 'num' }, p.averageWinningFeeBps === null ? '–' : p.averageWinningFeeBps.toFixed(1) + ' bps'),
        el('td', { class: 'num' }, String(p.proofs)),
        el('td', { class: 'num' }, amount(p.rewards)),
        el('td', { class: 'num' }, amount(p.bondsStaked)),
        el('td', { class: p.slashes > 0 ? 'num refused' : 'num' },
          p.slashes > 0 ? '✗ ' + p.slashes + ' (' : '0', p.slashes > 0 ? amount(p.slashed) : '', p.slashes > 0 ? ')' : '')));
    }
    if (rows.length === 0) body.append(el('tr', null, el('td', { colspan: 9, class: 'muted' }, 'No prover seen yet.')));
  }

  // ------------------------------------------------------------------ refresh

  async function refreshAll() {
    try {
      status = await getJson('/status');
      renderStatus();
      epochs = (await getJson('/epochs?limit=60')).epochs;
      renderTimeline();
      renderCharts();
      renderProvers((await getJson('/provers')).provers);
      await loadAuction();
      document.body.setAttribute('data-loaded', String(Date.now()));
    } catch (err) {
      document.getElementById('st-live').textContent = '✗ ' + err.message;
    }
  }

  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refreshAll();
    }, 250);
  }

  function connect() {
    const live = document.getElementById('st-live');
    const source = new EventSource(API + '/stream');
    source.addEventListener('open', () => { live.textContent = '✓ live'; live.className = 'good'; });
    source.addEventListener('error', () => { live.textContent = '… reconnecting'; live.className = 'warn'; });
    source.addEventListener('change', (ev) => {
      let change;
      try { change = JSON.parse(ev.data); } catch (_) { return; }
      if (change.type === 'status') {
        const slotBefore = status ? status.currentSlot : null;
        status = Object.assign(status || {}, change);
        renderStatus();
        // Epoch states and the claim phase move with the slot.
        if (change.currentSlot !== slotBefore) scheduleRefresh();
      } else {
        scheduleRefresh();
      }
    });
  }

  function start() {
    const m = /^#epoch=([0-9]{1,18})$/.exec(location.hash);
    if (m) selected = Number(m[1]);
    refreshAll();
    connect();
    setInterval(tickCountdowns, 1000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
