// failover-candidate policy in JavaScript (QuickJS via componentize-qjs), decision for
// decision the same as the Rust module plugins/zone-aware-failover: prefer a safe replica in
// the failed primary's zone, else the least-lagged safe replica; veto when no candidate holds
// the failed primary's last known GTID set. Build:
//   componentize-qjs --wit ../../../wit --world failover-candidate-policy --js policy.js \
//     --opt-size --sync --stub-wasi -o zone_aware_failover.wasm
import { log } from 'mysql-operator:policy/log@0.1.0';

const VETO_REASON = "no candidate has the failed primary's last known GTID set; " +
  'promoting any would lose acknowledged transactions';
const DEFAULTS = { maxLagSeconds: 300, preferSameZone: true, vetoOnMissingGtids: true };

function parseSettings(text) {
  const raw = text.trim() === '' || text.trim() === 'null' ? {} : JSON.parse(text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('settings: expected a JSON object');
  }
  const out = { ...DEFAULTS };
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in DEFAULTS)) {
      throw new Error(`settings: unknown field \`${key}\`, expected one of \`maxLagSeconds\`, \`preferSameZone\`, \`vetoOnMissingGtids\``);
    }
    if (key === 'maxLagSeconds') {
      if (typeof value !== 'number') throw new Error('settings: maxLagSeconds must be a number');
    } else if (typeof value !== 'boolean') {
      throw new Error(`settings: ${key} must be true or false`);
    }
    out[key] = value;
  }
  if (!Number.isFinite(out.maxLagSeconds) || out.maxLagSeconds < 0) {
    throw new Error(`maxLagSeconds must be a number >= 0, got ${out.maxLagSeconds}`);
  }
  return out;
}

// GTID sets: { kind: 'mysql', sets: Map("uuid:tag" -> [[a, b], ...]) } or
// { kind: 'mariadb', pos: Map(domain -> seqno) }; null = empty. BigInt: seqnos are 64-bit.
function merge(ranges) {
  ranges.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
  const out = [];
  for (const [a, b] of ranges) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1n) last[1] = b > last[1] ? b : last[1];
    else out.push([a, b]);
  }
  return out;
}

const DIGITS = /^[0-9]+$/;
function num(s, entry) {
  if (!DIGITS.test(s)) throw new Error(`invalid GTID set near ${JSON.stringify(entry)}`);
  return BigInt(s);
}

function parseGtids(text) {
  const entries = text.replace(/\s+/g, '').split(',').filter((e) => e !== '');
  if (entries.length === 0) return null;
  if (entries[0].includes(':')) {
    const sets = new Map();
    for (const entry of entries) {
      const parts = entry.split(':');
      const uuid = parts[0];
      const hex = (uuid.match(/[0-9a-fA-F]/g) || []).length;
      const dashes = (uuid.match(/-/g) || []).length;
      if (hex !== 32 || hex + dashes !== uuid.length) throw new Error(`invalid GTID set near ${JSON.stringify(entry)}`);
      let tag = '';
      let seen = false;
      for (const part of parts.slice(1)) {
        if (/^[A-Za-z_]/.test(part)) { tag = part.toLowerCase(); continue; }
        const dash = part.indexOf('-');
        const a = num(dash < 0 ? part : part.slice(0, dash), part);
        const b = num(dash < 0 ? part : part.slice(dash + 1), part);
        if (a < 1n || b < a) throw new Error(`invalid GTID set near ${JSON.stringify(part)}`);
        const key = `${uuid.toLowerCase()}:${tag}`;
        if (!sets.has(key)) sets.set(key, []);
        sets.get(key).push([a, b]);
        seen = true;
      }
      if (!seen) throw new Error(`invalid GTID set near ${JSON.stringify(entry)}`);
    }
    for (const [k, v] of sets) sets.set(k, merge(v));
    return { kind: 'mysql', sets };
  }
  const pos = new Map();
  for (const entry of entries) {
    const nums = entry.split('-');
    if (nums.length !== 3) throw new Error(`invalid GTID set near ${JSON.stringify(entry)}`);
    const [d, , n] = nums.map((x) => num(x, entry));
    if (!pos.has(d) || pos.get(d) < n) pos.set(d, n);
  }
  return { kind: 'mariadb', pos };
}

function union(x, y) {
  if (x === null) return y;
  if (y === null || x.kind !== y.kind) return x;
  if (x.kind === 'mysql') {
    const sets = new Map();
    for (const m of [x.sets, y.sets]) for (const [k, v] of m) sets.set(k, (sets.get(k) || []).concat(v.map((r) => [r[0], r[1]])));
    for (const [k, v] of sets) sets.set(k, merge(v));
    return { kind: 'mysql', sets };
  }
  const pos = new Map(x.pos);
  for (const [d, n] of y.pos) if (!pos.has(d) || pos.get(d) < n) pos.set(d, n);
  return { kind: 'mariadb', pos };
}

function contains(have, need) {
  if (need === null) return true;
  if (have === null || have.kind !== need.kind) return false;
  if (need.kind === 'mysql') {
    for (const [k, rs] of need.sets) {
      const h = have.sets.get(k) || [];
      for (const [a, b] of rs) if (!h.some(([p, q]) => p <= a && b <= q)) return false;
    }
    return true;
  }
  for (const [d, n] of need.pos) if (!have.pos.has(d) || have.pos.get(d) < n) return false;
  return true;
}

function known(lag) {
  return lag !== undefined && lag !== null && !Number.isNaN(lag);
}

// -1 when a ranks before b: known lag first, then lower lag, then lower ordinal.
function compare(a, b) {
  const ka = known(a.lagSeconds);
  const kb = known(b.lagSeconds);
  if (ka !== kb) return ka ? -1 : 1;
  if (ka && a.lagSeconds !== b.lagSeconds) return a.lagSeconds < b.lagSeconds ? -1 : 1;
  return a.ordinal - b.ordinal;
}

export const meta = {
  describe() {
    return { name: 'zone-aware-failover-js', version: '0.1.0' };
  },
  validateSettings(settings) {
    try {
      parseSettings(settings);
    } catch (e) {
      throw String(e.message || e);
    }
  },
};

export const failoverCandidate = {
  choose(request) {
    let s;
    let primary;
    const holds = [];
    try {
      s = parseSettings(request.settings);
      primary = parseGtids(request.failedPrimary.lastKnownGtidExecuted);
      for (const c of request.candidates) {
        try {
          holds.push(contains(union(parseGtids(c.gtidExecuted), parseGtids(c.gtidRetrieved)), primary));
        } catch (e) {
          throw new Error(`candidate ${c.podName}: ${e.message}`);
        }
      }
    } catch (e) {
      throw String(e.message || e);
    }
    const veto = s.vetoOnMissingGtids;
    if (veto && primary !== null && !holds.some((h) => h)) {
      log('warn', VETO_REASON);
      return { tag: 'veto', val: VETO_REASON };
    }
    const safe = request.candidates.filter((c, i) => c.healthy && c.errantGtids.trim() === '' &&
      (!known(c.lagSeconds) || c.lagSeconds <= s.maxLagSeconds) && (holds[i] || !veto));
    const zone = s.preferSameZone ? request.failedPrimary.zone : undefined;
    const same = safe.filter((c) => zone !== undefined && zone !== null && c.zone === zone);
    const pool = same.length > 0 ? same : safe;
    if (pool.length === 0) {
      log('info', 'no safe candidate; abstaining');
      return { tag: 'abstain' };
    }
    let best = pool[0];
    for (const c of pool.slice(1)) if (compare(c, best) < 0) best = c;
    log('info', `promoting ${best.podName}`);
    return { tag: 'promote', val: best.podName };
  },
};
