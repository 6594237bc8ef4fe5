// Glue between the bindings `wit-c-gen` (the `wit-bindgen c` generator) writes for the
// `failover-candidate-policy` world and the rule in policy.c: converts the canonical-ABI
// types to str_t/cand_t/primary_t and the verdict back. The host instantiates fresh for
// every call, so the request and the rule's small allocations go with the instance.

#include "failover_candidate_policy.h"
#include "policy.h"

#include <stdlib.h>
#include <string.h>

static str_t str(const failover_candidate_policy_string_t *s) {
    str_t r = {(const char *)s->ptr, s->len};
    return r;
}

static void set_string(failover_candidate_policy_string_t *out, const char *s) {
    failover_candidate_policy_string_dup(out, s);
}

static void log_info(const char *msg) {
    failover_candidate_policy_string_t m;
    failover_candidate_policy_string_set(&m, msg);
    mysql_operator_policy_log_log(MYSQL_OPERATOR_POLICY_TYPES_LOG_LEVEL_INFO, &m);
}

void exports_mysql_operator_policy_meta_describe(exports_mysql_operator_policy_meta_module_info_t *ret) {
    set_string(&ret->name, "zone-aware-failover-c");
    set_string(&ret->version, "0.1.0");
}

bool exports_mysql_operator_policy_meta_validate_settings(failover_candidate_policy_string_t *settings,
                                                          failover_candidate_policy_string_t *err) {
    settings_t s;
    char msg[256];
    if (parse_settings(str(settings), &s, msg, sizeof msg) != 0) {
        set_string(err, msg);
        return false;
    }
    return true;
}

bool exports_mysql_operator_policy_failover_candidate_choose(
    exports_mysql_operator_policy_failover_candidate_failover_request_t *req,
    exports_mysql_operator_policy_failover_candidate_decision_t *ret, failover_candidate_policy_string_t *err) {
    char msg[256];
    settings_t s;
    if (parse_settings(str(&req->settings), &s, msg, sizeof msg) != 0) {
        set_string(err, msg);
        return false;
    }
    const exports_mysql_operator_policy_failover_candidate_failed_primary_t *fp = &req->failed_primary;
    primary_t p = {fp->zone.is_some, str(&fp->zone.val), str(&fp->last_known_gtid_executed)};
    size_t n = req->candidates.len;
    cand_t *c = calloc(n ? n : 1, sizeof(cand_t));
    for (size_t i = 0; i < n; i++) {
        const exports_mysql_operator_policy_failover_candidate_candidate_t *k = &req->candidates.ptr[i];
        c[i].ordinal = k->ordinal;
        c[i].has_zone = k->zone.is_some;
        c[i].zone = str(&k->zone.val);
        c[i].executed = str(&k->gtid_executed);
        c[i].retrieved = str(&k->gtid_retrieved);
        c[i].errant = str(&k->errant_gtids);
        c[i].has_lag = k->lag_seconds.is_some;
        c[i].lag = k->lag_seconds.val;
        c[i].healthy = k->healthy;
    }
    size_t chosen = 0;
    int d = decide(&s, &p, c, n, &chosen, msg, sizeof msg);
    free(c);
    switch (d) {
        case D_PROMOTE: {
            const failover_candidate_policy_string_t *pod = &req->candidates.ptr[chosen].pod_name;
            ret->tag = EXPORTS_MYSQL_OPERATOR_POLICY_FAILOVER_CANDIDATE_DECISION_PROMOTE;
            failover_candidate_policy_string_dup_n(&ret->val.promote, (const char *)pod->ptr, pod->len);
            log_info("zone-aware-failover-c: promoting a candidate");
            return true;
        }
        case D_ABSTAIN:
            ret->tag = EXPORTS_MYSQL_OPERATOR_POLICY_FAILOVER_CANDIDATE_DECISION_ABSTAIN;
            return true;
        case D_VETO:
            ret->tag = EXPORTS_MYSQL_OPERATOR_POLICY_FAILOVER_CANDIDATE_DECISION_VETO;
            set_string(&ret->val.veto, VETO_REASON);
            return true;
        default:
            set_string(err, msg);
            return false;
    }
}
