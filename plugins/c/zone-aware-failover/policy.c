// The zone-aware failover rule in C, decision for decision the same as the Rust module
// plugins/zone-aware-failover: settings parsing, GTID sets (MySQL and MariaDB) and the
// choice. No libc I/O, so the component imports nothing but the policy ABI. The glue to
// the generated bindings is in glue.c.

#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t cap, const char *a, const char *b) {
    size_t n = 0;
    for (const char *p = a; p && *p && n + 1 < cap; p++) err[n++] = *p;
    for (const char *p = b; p && *p && n + 1 < cap; p++) err[n++] = *p;
    err[n] = 0;
}

// ---------------------------------------------------------------- settings (flat JSON)

static size_t skip_ws(str_t s, size_t i) {
    while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t' || s.ptr[i] == '\n' || s.ptr[i] == '\r')) i++;
    return i;
}

static bool lit(str_t s, size_t *i, const char *word) {
    size_t n = strlen(word);
    if (*i + n <= s.len && memcmp(s.ptr + *i, word, n) == 0) {
        *i += n;
        return true;
    }
    return false;
}

// A JSON number at s[*i]; false if there is none.
static bool number(str_t s, size_t *i, double *out) {
    size_t j = *i;
    bool neg = false;
    if (j < s.len && s.ptr[j] == '-') { neg = true; j++; }
    if (j >= s.len || s.ptr[j] < '0' || s.ptr[j] > '9') return false;
    double v = 0;
    while (j < s.len && s.ptr[j] >= '0' && s.ptr[j] <= '9') v = v * 10 + (s.ptr[j++] - '0');
    if (j < s.len && s.ptr[j] == '.') {
        j++;
        double scale = 0.1;
        if (j >= s.len || s.ptr[j] < '0' || s.ptr[j] > '9') return false;
        while (j < s.len && s.ptr[j] >= '0' && s.ptr[j] <= '9') { v += (s.ptr[j++] - '0') * scale; scale /= 10; }
    }
    if (j < s.len && (s.ptr[j] == 'e' || s.ptr[j] == 'E')) {
        j++;
        bool eneg = false;
        if (j < s.len && (s.ptr[j] == '+' || s.ptr[j] == '-')) eneg = s.ptr[j++] == '-';
        if (j >= s.len || s.ptr[j] < '0' || s.ptr[j] > '9') return false;
        int e = 0;
        while (j < s.len && s.ptr[j] >= '0' && s.ptr[j] <= '9' && e < 400) e = e * 10 + (s.ptr[j++] - '0');
        v *= pow(10, eneg ? -e : e);
    }
    *out = neg ? -v : v;
    *i = j;
    return true;
}

// Skips any JSON value (for error messages only the key matters; values of unknown keys
// are refused anyway).
static bool key(str_t s, size_t *i, char *buf, size_t cap) {
    if (*i >= s.len || s.ptr[*i] != '"') return false;
    size_t j = *i + 1, n = 0;
    while (j < s.len && s.ptr[j] != '"') {
        if (s.ptr[j] == '\\') return false;  // no escapes in our keys
        if (n + 1 < cap) buf[n++] = s.ptr[j];
        j++;
    }
    if (j >= s.len) return false;
    buf[n] = 0;
    *i = j + 1;
    return true;
}

int parse_settings(str_t s, settings_t *out, char *err, size_t cap) {
    out->max_lag = 300.0;
    out->prefer_zone = true;
    out->veto = true;
    size_t i = skip_ws(s, 0);
    if (i == s.len) return 0;
    if (lit(s, &i, "null")) return skip_ws(s, i) == s.len ? 0 : (set_err(err, cap, "settings: trailing characters", 0), -1);
    if (s.ptr[i] != '{') return set_err(err, cap, "settings: expected a JSON object", 0), -1;
    i = skip_ws(s, i + 1);
    if (i < s.len && s.ptr[i] == '}') return skip_ws(s, i + 1) == s.len ? 0 : (set_err(err, cap, "settings: trailing characters", 0), -1);
    for (;;) {
        char k[64];
        if (!key(s, &i, k, sizeof k)) return set_err(err, cap, "settings: expected a field name", 0), -1;
        i = skip_ws(s, i);
        if (i >= s.len || s.ptr[i] != ':') return set_err(err, cap, "settings: expected ':' after ", k), -1;
        i = skip_ws(s, i + 1);
        if (strcmp(k, "maxLagSeconds") == 0) {
            if (!number(s, &i, &out->max_lag)) return set_err(err, cap, "settings: maxLagSeconds must be a number", 0), -1;
        } else if (strcmp(k, "preferSameZone") == 0 || strcmp(k, "vetoOnMissingGtids") == 0) {
            bool *b = k[0] == 'p' ? &out->prefer_zone : &out->veto;
            if (lit(s, &i, "true")) *b = true;
            else if (lit(s, &i, "false")) *b = false;
            else return set_err(err, cap, k[0] == 'p' ? "settings: preferSameZone must be true or false" : "settings: vetoOnMissingGtids must be true or false", 0), -1;
        } else {
            set_err(err, cap, "settings: unknown field `", k);
            set_err(err + strlen(err), cap - strlen(err), "`, expected maxLagSeconds, preferSameZone or vetoOnMissingGtids", 0);
            return -1;
        }
        i = skip_ws(s, i);
        if (i < s.len && s.ptr[i] == ',') { i = skip_ws(s, i + 1); continue; }
        if (i < s.len && s.ptr[i] == '}') { i = skip_ws(s, i + 1); break; }
        return set_err(err, cap, "settings: expected ',' or '}'", 0), -1;
    }
    if (i != s.len) return set_err(err, cap, "settings: trailing characters", 0), -1;
    if (!isfinite(out->max_lag) || out->max_lag < 0) return set_err(err, cap, "maxLagSeconds must be a number >= 0", 0), -1;
    return 0;
}

// ---------------------------------------------------------------- GTID sets

// MySQL: one interval of one (uuid, tag); MariaDB: domain in `a` is unused, seqno in `b`.
typedef struct {
    char key[72];  // "uuid:tag" lowercase (MySQL) or the domain id as text (MariaDB)
    uint64_t a, b;
} range_t;

typedef struct {
    int kind;  // 0 empty, 1 mysql, 2 mariadb
    range_t *r;
    size_t n, cap;
} gset_t;

static void push(gset_t *g, const char *key, uint64_t a, uint64_t b) {
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->r = realloc(g->r, g->cap * sizeof(range_t));
    }
    range_t *r = &g->r[g->n++];
    strncpy(r->key, key, sizeof r->key - 1);
    r->key[sizeof r->key - 1] = 0;
    r->a = a;
    r->b = b;
}

static int cmp_range(const void *x, const void *y) {
    const range_t *p = x, *q = y;
    int c = strcmp(p->key, q->key);
    if (c) return c;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

// Sorts and merges: MySQL adjacent/overlapping intervals, MariaDB max seqno per domain.
static void normalize(gset_t *g) {
    if (g->n == 0) return;
    qsort(g->r, g->n, sizeof(range_t), cmp_range);
    size_t w = 0;
    for (size_t i = 1; i < g->n; i++) {
        range_t *last = &g->r[w], *cur = &g->r[i];
        if (strcmp(last->key, cur->key) == 0 && (g->kind == 2 || cur->a <= last->b + 1)) {
            if (cur->b > last->b) last->b = cur->b;
        } else {
            g->r[++w] = *cur;
        }
    }
    g->n = w + 1;
}

static bool parse_u64(const char *p, size_t n, uint64_t *out) {
    if (n == 0 || n > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static bool is_hex(char c) { return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f'); }
static bool is_alpha(char c) { return lower(c) >= 'a' && lower(c) <= 'z'; }

// Parses one entry (no commas, no whitespace).
static bool parse_entry(gset_t *g, const char *e, size_t n) {
    const char *colon = memchr(e, ':', n);
    if (g->kind == 1 || (g->kind == 0 && colon)) {
        if (!colon) return false;
        g->kind = 1;
        size_t ulen = (size_t)(colon - e), hex = 0;
        for (size_t i = 0; i < ulen; i++) {
            if (is_hex(e[i])) hex++;
            else if (e[i] != '-') return false;
        }
        if (hex != 32 || ulen > 36) return false;
        char key[72];
        for (size_t i = 0; i < ulen; i++) key[i] = lower(e[i]);
        key[ulen] = ':';
        size_t klen = ulen + 1;
        key[klen] = 0;
        bool seen = false;
        const char *p = colon + 1, *end = e + n;
        while (p <= end) {
            const char *q = memchr(p, ':', (size_t)(end - p));
            if (!q) q = end;
            size_t plen = (size_t)(q - p);
            if (plen > 0 && (is_alpha(*p) || *p == '_')) {
                if (plen > 32) return false;
                for (size_t i = 0; i < plen; i++) key[ulen + 1 + i] = lower(p[i]);
                key[ulen + 1 + plen] = 0;
            } else {
                const char *dash = memchr(p, '-', plen);
                uint64_t a, b;
                if (dash) {
                    if (!parse_u64(p, (size_t)(dash - p), &a) || !parse_u64(dash + 1, (size_t)(q - dash - 1), &b)) return false;
                } else {
                    if (!parse_u64(p, plen, &a)) return false;
                    b = a;
                }
                if (a < 1 || b < a) return false;
                push(g, key, a, b);
                seen = true;
            }
            p = q + 1;
        }
        return seen;
    }
    if (colon) return false;
    g->kind = 2;
    const char *d1 = memchr(e, '-', n);
    if (!d1) return false;
    const char *d2 = memchr(d1 + 1, '-', (size_t)(e + n - d1 - 1));
    if (!d2 || memchr(d2 + 1, '-', (size_t)(e + n - d2 - 1))) return false;
    uint64_t dom, srv, seq;
    if (!parse_u64(e, (size_t)(d1 - e), &dom) || !parse_u64(d1 + 1, (size_t)(d2 - d1 - 1), &srv) ||
        !parse_u64(d2 + 1, (size_t)(e + n - d2 - 1), &seq) || dom > UINT32_MAX || srv > UINT32_MAX)
        return false;
    char key[24];
    size_t k = 0;
    char tmp[24];
    size_t t = 0;
    do { tmp[t++] = (char)('0' + dom % 10); dom /= 10; } while (dom);
    while (t) key[k++] = tmp[--t];
    key[k] = 0;
    push(g, key, 0, seq);
    return true;
}

static bool parse_gtids(str_t s, gset_t *g) {
    memset(g, 0, sizeof *g);
    char *buf = malloc(s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') buf[n++] = c;
    }
    size_t start = 0;
    bool ok = true;
    for (size_t i = 0; i <= n && ok; i++) {
        if (i == n || buf[i] == ',') {
            if (i > start) ok = parse_entry(g, buf + start, i - start);
            start = i + 1;
        }
    }
    free(buf);
    if (ok) normalize(g);
    return ok;
}

// have ⊇ need (after normalisation every needed range must sit inside one range of have).
static bool contains(const gset_t *have, const gset_t *need) {
    if (need->n == 0) return true;
    if (have->kind != need->kind) return false;
    for (size_t i = 0; i < need->n; i++) {
        const range_t *r = &need->r[i];
        bool found = false;
        for (size_t j = 0; j < have->n && !found; j++) {
            const range_t *h = &have->r[j];
            if (strcmp(h->key, r->key) != 0) continue;
            found = need->kind == 2 ? h->b >= r->b : (h->a <= r->a && r->b <= h->b);
        }
        if (!found) return false;
    }
    return true;
}

static void unite(gset_t *x, const gset_t *y) {
    if (y->n == 0) return;
    if (x->n == 0) x->kind = y->kind;
    if (x->kind != y->kind) return;
    for (size_t i = 0; i < y->n; i++) push(x, y->r[i].key, y->r[i].a, y->r[i].b);
    normalize(x);
}

// ---------------------------------------------------------------- the rule

static bool str_eq(str_t a, str_t b) { return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0; }

static bool blank(str_t s) {
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t' && s.ptr[i] != '\n' && s.ptr[i] != '\r') return false;
    return true;
}

static bool known(const cand_t *c) { return c->has_lag && !isnan(c->lag); }

// True when a ranks before b: known lag first, then less lag, then lower ordinal.
static bool before(const cand_t *a, const cand_t *b) {
    if (known(a) != known(b)) return known(a);
    if (known(a) && a->lag != b->lag) return a->lag < b->lag;
    return a->ordinal < b->ordinal;
}

int decide(const settings_t *s, const primary_t *p, const cand_t *c, size_t n, size_t *chosen, char *err, size_t cap) {
    gset_t primary;
    if (!parse_gtids(p->gtids, &primary)) return set_err(err, cap, "failed primary: invalid GTID set", 0), D_ERROR;
    bool *holds = calloc(n ? n : 1, sizeof(bool));
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        gset_t ex, re;
        if (!parse_gtids(c[i].executed, &ex) || !parse_gtids(c[i].retrieved, &re)) {
            return set_err(err, cap, "a candidate has an invalid GTID set", 0), D_ERROR;
        }
        unite(&ex, &re);
        holds[i] = contains(&ex, &primary);
        any = any || holds[i];
    }
    if (s->veto && primary.n > 0 && !any) return D_VETO;
    long best = -1, best_same = -1;
    for (size_t i = 0; i < n; i++) {
        const cand_t *k = &c[i];
        bool lag_ok = !known(k) || k->lag <= s->max_lag;
        if (!k->healthy || !blank(k->errant) || !lag_ok || (!holds[i] && s->veto)) continue;
        if (best < 0 || before(k, &c[best])) best = (long)i;
        if (s->prefer_zone && p->has_zone && k->has_zone && str_eq(k->zone, p->zone) &&
            (best_same < 0 || before(k, &c[best_same])))
            best_same = (long)i;
    }
    if (best_same >= 0) best = best_same;
    if (best < 0) return D_ABSTAIN;
    *chosen = (size_t)best;
    return D_PROMOTE;
}
