/*
 * cancel.c - the hooks: how a long call learns that it should stop
 * (Ctrl-C), and how a user's own backward step (a PG_HOOK node) runs. The
 * core stays free of Python: each hook is a plain C function that pygrad's
 * binding (pygrad/_build.py) fills with a call into Python.
 */
#include "core.h"

static int (*cancel_hook)(void) = NULL;

void pg_set_cancel_hook(int (*hook)(void)) { cancel_hook = hook; }

int pg_cancelled(void) { return cancel_hook != NULL && cancel_hook() != 0; }

/* No hook: a PG_HOOK node contributes nothing, as a micrograd node whose
 * _backward was never set. */
static int (*backward_hook)(int32_t id) = NULL;

void pg_set_backward_hook(int (*hook)(int32_t id)) { backward_hook = hook; }

int pg_run_hook(int32_t id) {
    if (backward_hook == NULL || backward_hook(id) == 0) return PG_OK;
    return PG_EHOOK;
}
