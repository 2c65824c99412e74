/*
 * pygrad.h - the C contract of pygrad's scalar autograd core.
 *
 * The core owns every node of the C engine: its value, its gradient, its op
 * and its children. Nodes are named by int32 ids (indices into one pool);
 * Python wrappers hold ids, never pointers. Each node carries a reference
 * count: one per Python handle (pg_incref/pg_decref) and one per parent.
 *
 * Conventions:
 *   - functions that create a node return its id (>= 0) or a negative
 *     PG_E* status (-PG_ENOMEM, ...); nothing is created on error.
 *   - other fallible functions return PG_OK (0) or a PG_E* status.
 *   - the core never aborts and never prints.
 *
 * Threads: the core keeps global state and takes no lock. pygrad's build
 * keeps the GIL held during every call (see pygrad/_build.py), so Python
 * threads are serialized at the boundary.
 *
 * Everything between the CDEF markers is also the cffi cdef (read by
 * pygrad/_build.py), so it stays within what cffi's parser accepts.
 */
#ifndef PYGRAD_H
#define PYGRAD_H

#include <stdint.h> /* int32_t, uint32_t */
#include <stddef.h> /* size_t */

/* BEGIN CDEF */
enum pg_status {
    PG_OK = 0,
    PG_ENOMEM = 1,    /* out of memory                  -> MemoryError       */
    PG_EDOMAIN = 2,   /* math domain error (log(-1))    -> ValueError        */
    PG_EZERODIV = 3,  /* division by zero, 0 ** -1      -> ZeroDivisionError */
    PG_EOVERFLOW = 4, /* result too large (exp(1000))   -> OverflowError     */
    PG_EINVAL = 5,    /* bad id, op or argument         -> ValueError        */
    PG_EINDEX = 6,    /* select: index out of range     -> IndexError        */
    PG_ENOTINT = 7,   /* select: index not an integer   -> ValueError        */
    PG_EINTR = 8,     /* the cancel hook said stop      -> KeyboardInterrupt */
    PG_EBUSY = 9,     /* called from a signal handler that the cancel hook ran
                         inside a sort or compiled run  -> RuntimeError      */
    PG_EGUARD = 10,   /* a compiled row took another branch than the trace:
                         the binding runs it through another program        */
    PG_ENOGRAPH = 11, /* backward from an op's result made with grad mode
                         off: it has no graph           -> RuntimeError      */
    PG_EHOOK = 12,    /* the backward hook said the user's code raised
                                                        -> that exception    */
    PG_ECUSTOM = 13   /* compile: the graph holds a user's op (pg_custom)
                                                        -> TypeError         */
};

/* Ops, listed in csrc/ops.def (the enum is made from it below, outside
 * the cdef): codes run from 0 (a leaf) to pg_num_ops() - 1. Python reads
 * the list from here, so the op list is written once. */
int pg_num_ops(void);
const char *pg_op_name(int op);   /* "ADD", ...; NULL for a bad op        */
int pg_op_arity(int op);          /* children; -1 n-ary; -2 for a bad op  */

/* Create nodes. */
int32_t pg_leaf(double data);
int32_t pg_unary(int op, int32_t a);
int32_t pg_binary(int op, int32_t a, int32_t b);
/* a op k (k_first == 0) or k op a (k_first != 0); k becomes a new leaf. */
int32_t pg_binary_k(int op, int32_t a, double k, int k_first);
/* PG_SUM: n kids. PG_DOT: kids = w[0..m), x[0..m), b with n = 2m + 1. */
int32_t pg_nary(int op, int32_t n, const int32_t *kids);
/* A user's op over n >= 1 kids, with the value `data` the user computed.
 * With local != NULL, a PG_CUSTOM node: backward adds local[i] * grad
 * into kid i (microgpt's Value(data, children, local_grads)). With
 * local == NULL, a PG_HOOK node: backward calls the backward hook with its
 * id (micrograd's Value(data, children, op) and its _backward). */
int32_t pg_custom(double data, int32_t n, const int32_t *kids, const double *local);

/* A dense layer in one call: for each of nout neurons r, one PG_DOT node
 * over (w[r*nin .. r*nin+nin), x[0..nin), b[r]), followed by a PG_RELU node
 * if relu != 0. out[r] receives the id of neuron r's last node, owned by
 * the caller. All or nothing: on error no node is left behind and every
 * out[r] is -1. */
int pg_dense(int32_t nout, int32_t nin, const int32_t *w, const int32_t *x,
             const int32_t *b, int relu, int32_t *out);

/* While off (pygrad.no_grad), ops make plain leaves holding their value:
 * no graph is built. Returns the previous setting. Per thread: each
 * thread starts with grad mode on. */
int pg_set_grad_enabled(int on);

/* Long calls (backward, compile, compiled runs) call the hook every few
 * thousand nodes or rows; when it returns nonzero they stop and return
 * PG_EINTR (what they leave is said at each). pygrad's binding installs a
 * hook that runs Python's signal handlers (Ctrl-C). NULL: no hook.
 * A handler may call the core (make nodes, drop them), except to start
 * another sort (backward, compile) or to run the program being run: those
 * return PG_EBUSY. */
void pg_set_cancel_hook(int (*hook)(void));

/* Backward meets a PG_HOOK node: it calls the hook with the node's id at
 * that node's turn (children's grads not yet final, the node's own grad
 * final, as in micrograd), and stops with PG_EHOOK if it returns nonzero.
 * The hook may read and write grads, and make or drop nodes, but not start
 * another sort (PG_EBUSY). NULL: PG_HOOK nodes contribute nothing. */
void pg_set_backward_hook(int (*hook)(int32_t id));

/* Differentiate: sort the graph below root, set root's grad to 1 and
 * accumulate every other node's grad (grads are not zeroed first).
 * PG_EINTR before the root's step: no grad changed; after it (a chain is
 * swept as it is walked, with no sort first): the root's grad is 1 and
 * the other grads hold part of this call's contributions; so on PG_EHOOK
 * (a user's step raised). */
int pg_backward(int32_t root);
/* One node's local step only (the tutorial's node._backward()). */
int pg_backward_node(int32_t id);

/* Read and write one node. Ids are checked: a bad id reads as NaN / -1. */
double pg_data(int32_t id);
double pg_grad(int32_t id);
int pg_set_data(int32_t id, double x);
int pg_set_grad(int32_t id, double g);
int pg_op(int32_t id);
int32_t pg_nkids(int32_t id);
int32_t pg_refs(int32_t id);      /* handles + parents holding it; -1 for a bad id */
int32_t pg_kid(int32_t id, int32_t i);

/* Reference counts held by Python handles. */
int pg_incref(int32_t id);
int pg_decref(int32_t id);
/* Drop the node that this thread's last pg_leaf/pg_unary/pg_binary/
 * pg_binary_k/pg_nary call returned, once: for a caller interrupted (Ctrl-C)
 * after that call returned and before it kept the id. */
int pg_release_unowned(void);

/* Compiled programs: the graph below a root, flattened once into an array
 * of slots in topological order, then replayed on many rows of inputs.
 * Inputs are leaves whose values come from each row; params are leaves
 * whose data is read at every run and whose grads receive the gradient
 * summed over the rows; other leaves are constants read at every run.
 * A program holds a reference to every leaf it reads. */
typedef struct pg_program pg_program;
int pg_compile(int32_t root, int32_t ninputs, const int32_t *inputs,
               int32_t nparams, const int32_t *params, pg_program **out);
/* The same, with guards: Python decisions seen while tracing, which every
 * row must take the same way. Guard i is guards[4i..4i+4): node a, node b
 * (or -1: the number consts[i]), the comparison (0 <, 1 <=, 2 >, 3 >=)
 * and the outcome seen (0 or 1). A row whose guard comes out otherwise
 * stops the run with PG_EGUARD, like an error (no grad changes, *bad_row
 * names it); pg_program_failed_guard says which guard. */
int pg_compile_guarded(int32_t root, int32_t ninputs, const int32_t *inputs,
                       int32_t nparams, const int32_t *params,
                       int32_t nguards, const int32_t *guards, const double *consts, pg_program **out);
/* The same, with users' ops that a trace recorded (microgpt's form with
 * Values as local gradients): entry j of customs is [node, data, g_0, ...,
 * g_n-1] for a PG_CUSTOM node of n children: its value is recomputed as
 * data's, and child i receives g_i * grad. data and the g_i are computed
 * before the node and never differentiated. ncustom_ints: the length of
 * customs. Any other PG_CUSTOM or PG_HOOK node below root, or a data or g_i
 * that needs a node backward reaches after this one, gives PG_ECUSTOM. */
int pg_compile_custom(int32_t root, int32_t ninputs, const int32_t *inputs,
                      int32_t nparams, const int32_t *params,
                      int32_t nguards, const int32_t *guards, const double *consts,
                      int32_t ncustom, const int32_t *customs, int64_t ncustom_ints, pg_program **out);
int32_t pg_program_failed_guard(const pg_program *p);
/* exact != 0 (the default): every run gives eager's bits. exact == 0: sums
 * may be reordered (partial sums, vectors), so results may differ from
 * eager's in the last bits (tested within 1e-12 relative). */
int pg_program_set_exact(pg_program *p, int exact);
/* 1 if the root's value depends on an input or a param, else 0 (-1: no program). */
int pg_program_depends(const pg_program *p);
void pg_program_free(pg_program *p);
int64_t pg_program_size(const pg_program *p);   /* instructions */
/* The constants (leaves neither input nor param) that something outside
 * the graph also holds: a Python handle, or another graph. Writes up to
 * max of their ids; returns how many there are, or -PG_EINVAL. */
int64_t pg_program_held_constants(const pg_program *p, int64_t max, int32_t *ids);
/* For each of nrows rows of `batch` (row-major, ninputs columns) compute
 * the root into out[row]; if backward != 0 also differentiate each row as
 * eager `(scale * root).backward()` would, adding into the params' grads.
 * On an error no grad changes and *bad_row says which row failed. */
int pg_program_run(pg_program *p, int64_t nrows, const double *batch, double *out,
                   int backward, double scale, int64_t *bad_row);

/* Gradients as graphs (create_graph): d root / d inputs[i] into out[i],
 * each a new node (the caller owns one reference to each) built from ops,
 * whose value is the number backward would add up, bit for bit; seed is
 * d root / d root (a node), or -1 for the constant 1. With grad mode off
 * the results are leaves (the numbers alone). No node's grad changes. */
int pg_grad_graph(int32_t root, int32_t seed, int32_t ninputs, const int32_t *inputs, int32_t *out);
/* The same numbers into out[i], with no nodes made (seed: d root / d root).
 * An input not below root gets 0; no node's grad changes. */
int pg_grad_numbers(int32_t root, double seed, int32_t ninputs, const int32_t *inputs, double *out);
/* The same for several roots: d (sum_i seeds[i] * roots[i]) / d inputs
 * (a Hessian-vector product is this over a gradient's nodes). */
int pg_grad_numbers_many(int32_t nroots, const int32_t *roots, const double *seeds,
                         int32_t ninputs, const int32_t *inputs, double *out);

/* Optimizer steps over n parameter nodes, in C. SGD with momentum keeps
 * velocity[n]; Adam keeps m[n], v[n] and takes the step number t >= 1.
 * frozen: NULL, or n bytes, nonzero for a parameter the step skips.
 * Adam's weight decay is AdamW's (decoupled) when decoupled != 0. */
int pg_fill_grad(int32_t n, const int32_t *ids, double g);
int pg_sgd_step(int32_t n, const int32_t *ids, const uint8_t *frozen, double lr, double momentum,
                double weight_decay, double *velocity);
int pg_adam_step(int32_t n, const int32_t *ids, const uint8_t *frozen, double lr, double beta1, double beta2,
                 double eps, double weight_decay, int decoupled, int64_t t, double *m, double *v);

/* Bookkeeping, for tests and benchmarks. */
typedef struct {
    int64_t live;        /* nodes in use                        */
    int64_t capacity;    /* nodes the pool can hold before growing */
    int64_t node_bytes;  /* sizeof one node                     */
    int64_t pool_bytes;  /* bytes held by the pool and scratch  */
    int64_t kid_bytes;   /* bytes held by n-ary child arrays    */
    int64_t made;        /* nodes created since the process began */
} pg_stats_t;
int pg_stats(pg_stats_t *out);
/* END CDEF */

/* Op codes, one per line of ops.def. */
enum pg_op {
    PG_LEAF = 0,
#define OP1(NAME, ...) PG_##NAME,
#define OP2(NAME, ...) PG_##NAME,
#define OPK(NAME, ...) PG_##NAME,
#define OPN(NAME) PG_##NAME,
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
    PG_NUM_OPS
};

#endif /* PYGRAD_H */
