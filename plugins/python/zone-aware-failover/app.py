"""failover-candidate policy in Python, decision for decision the same as the Rust module
plugins/zone-aware-failover: prefer a safe replica in the failed primary's zone, else the
least-lagged safe replica; veto when no candidate holds the failed primary's last known GTID
set. Build: componentize-py -d ../../../wit -w failover-candidate-policy componentize app -o zone_aware_failover.wasm
"""

import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.failover_candidate import Decision_Abstain, Decision_Promote, Decision_Veto
from wit_world.exports.meta import ModuleInfo
from wit_world.imports import log as host_log
from wit_world.imports.types import LogLevel

VETO_REASON = ("no candidate has the failed primary's last known GTID set; "
               "promoting any would lose acknowledged transactions")
DEFAULTS = {"maxLagSeconds": 300.0, "preferSameZone": True, "vetoOnMissingGtids": True}


def parse_settings(text):
    """Settings JSON -> dict with defaults; raises ValueError naming the bad field."""
    raw = json.loads(text) if text.strip() not in ("", "null") else {}
    if not isinstance(raw, dict):
        raise ValueError("settings: expected a JSON object")
    out = dict(DEFAULTS)
    for key, value in raw.items():
        if key not in DEFAULTS:
            raise ValueError(f"settings: unknown field `{key}`, expected one of `maxLagSeconds`, `preferSameZone`, `vetoOnMissingGtids`")
        if key == "maxLagSeconds":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("settings: maxLagSeconds must be a number")
            out[key] = float(value)
        else:
            if not isinstance(value, bool):
                raise ValueError(f"settings: {key} must be true or false")
            out[key] = value
    lag = out["maxLagSeconds"]
    if not math.isfinite(lag) or lag < 0:
        raise ValueError(f"maxLagSeconds must be a number >= 0, got {lag}")
    return out


# GTID sets: ("mysql", {(uuid, tag): [(a, b), ...]}) or ("mariadb", {domain: seqno}); None = empty.

def _merge(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def parse_gtids(text):
    entries = [e for e in "".join(text.split()).split(",") if e]
    if not entries:
        return None
    if ":" in entries[0]:
        sets = {}
        for entry in entries:
            parts = entry.split(":")
            uuid = parts[0]
            hexdigits = sum(c in "0123456789abcdefABCDEF" for c in uuid)
            if hexdigits != 32 or hexdigits + uuid.count("-") != len(uuid):
                raise ValueError(f"invalid GTID set near {entry!r}")
            tag, seen = "", False
            for part in parts[1:]:
                if part[:1].isalpha() or part[:1] == "_":
                    tag = part.lower()
                    continue
                lo, _, hi = part.partition("-")
                a, b = int(lo), int(hi or lo)
                if a < 1 or b < a:
                    raise ValueError(f"invalid GTID set near {part!r}")
                sets.setdefault((uuid.lower(), tag), []).append((a, b))
                seen = True
            if not seen:
                raise ValueError(f"invalid GTID set near {entry!r}")
        return ("mysql", {k: _merge(v) for k, v in sets.items()})
    pos = {}
    for entry in entries:
        nums = entry.split("-")
        if len(nums) != 3 or not all(n.isdigit() for n in nums):
            raise ValueError(f"invalid GTID set near {entry!r}")
        d, n = int(nums[0]), int(nums[2])
        pos[d] = max(pos.get(d, 0), n)
    return ("mariadb", pos)


def union(x, y):
    if x is None:
        return y
    if y is None or x[0] != y[0]:
        return x
    if x[0] == "mysql":
        keys = set(x[1]) | set(y[1])
        return ("mysql", {k: _merge(x[1].get(k, []) + y[1].get(k, [])) for k in keys})
    return ("mariadb", {d: max(x[1].get(d, 0), y[1].get(d, 0)) for d in set(x[1]) | set(y[1])})


def contains(have, need):
    if need is None:
        return True
    if have is None or have[0] != need[0]:
        return False
    if need[0] == "mysql":
        return all(any(p <= a and b <= q for p, q in have[1].get(k, [])) for k, rs in need[1].items() for a, b in rs)
    return all(d in have[1] and have[1][d] >= n for d, n in need[1].items())


def rank(c):
    lag = c.lag_seconds
    if lag is None or math.isnan(lag):
        return (True, 0.0, c.ordinal)
    return (False, lag, c.ordinal)


class Meta(exports.Meta):
    def describe(self):
        return ModuleInfo(name="zone-aware-failover-py", version="0.1.0")

    def validate_settings(self, settings):
        try:
            parse_settings(settings)
        except ValueError as e:
            raise Err(str(e))


class FailoverCandidate(exports.FailoverCandidate):
    def choose(self, request):
        try:
            s = parse_settings(request.settings)
            primary = parse_gtids(request.failed_primary.last_known_gtid_executed)
            holds = []
            for c in request.candidates:
                try:
                    holds.append(contains(union(parse_gtids(c.gtid_executed), parse_gtids(c.gtid_retrieved)), primary))
                except ValueError as e:
                    raise ValueError(f"candidate {c.pod_name}: {e}")
        except ValueError as e:
            raise Err(str(e))
        veto = s["vetoOnMissingGtids"]
        if veto and primary is not None and not any(holds):
            host_log.log(LogLevel.WARN, VETO_REASON)
            return Decision_Veto(VETO_REASON)
        max_lag = s["maxLagSeconds"]
        safe = [c for c, h in zip(request.candidates, holds)
                if c.healthy and not c.errant_gtids.strip()
                and (c.lag_seconds is None or math.isnan(c.lag_seconds) or c.lag_seconds <= max_lag)
                and (h or not veto)]
        zone = request.failed_primary.zone if s["preferSameZone"] else None
        same = [c for c in safe if zone is not None and c.zone == zone]
        pool = same or safe
        if not pool:
            host_log.log(LogLevel.INFO, "no safe candidate; abstaining")
            return Decision_Abstain()
        best = min(pool, key=rank)
        host_log.log(LogLevel.INFO, f"promoting {best.pod_name}")
        return Decision_Promote(best.pod_name)
