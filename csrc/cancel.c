/*
 * cancel.c - the cancellation hook: how a long call learns that it should
 * stop (Ctrl-C). The core stays free of Python: the hook is a plain C
 * function that pygrad's binding (pygrad/_build.py) fills with a check of
 * Python's signal handlers.
 */
#include "core.h"

static int (*cancel_hook)(void) = NULL;

void pg_set_cancel_hook(int (*hook)(void)) { cancel_hook = hook; }

int pg_cancelled(void) { return cancel_hook != NULL && cancel_hook() != 0; }
