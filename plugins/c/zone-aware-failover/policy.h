// The zone-aware failover rule over plain C types, independent of the generated bindings.
#ifndef ZONE_AWARE_POLICY_H
#define ZONE_AWARE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *ptr;
    size_t len;
} str_t;

typedef struct {
    double max_lag;
    bool prefer_zone;
    bool veto;
} settings_t;

typedef struct {
    bool has_zone;
    str_t zone;
    str_t gtids;
} primary_t;

typedef struct {
    uint32_t ordinal;
    bool has_zone;
    str_t zone;
    str_t executed, retrieved, errant;
    bool has_lag;
    double lag;
    bool healthy;
} cand_t;

enum { D_PROMOTE, D_ABSTAIN, D_VETO, D_ERROR };

#define VETO_REASON                                                                  \
    "no candidate has the failed primary's last known GTID set; promoting any would " \
    "lose acknowledged transactions"

// 0 and *out filled, or -1 and a message in err.
int parse_settings(str_t settings, settings_t *out, char *err, size_t cap);

// D_PROMOTE (*chosen = index), D_ABSTAIN, D_VETO, or D_ERROR with a message in err.
int decide(const settings_t *s, const primary_t *p, const cand_t *c, size_t n, size_t *chosen, char *err, size_t cap);

#endif
