/*
 * _handle.c - the C engine's Value handle as a CPython type (CPython only).
 *
 * _build.py appends this file to the cffi module's source. It is binding
 * code, not core: it uses CPython's C API and calls the core's pg_*
 * functions directly, so an operator costs one C call and one object,
 * with no Python frame, no cffi argument conversion and no __del__.
 * Measured against the pure-Python handle (cengine._PyHandle, which PyPy
 * and builds without this type use): `a * b` about 4x faster.
 *
 * Only the hot paths live here: the handle's id and its release, the
 * operators, the unary methods, `data` and `grad`, and the table of which
 * handle holds which node (for `_prev`). Everything else (leaf creation,
 * labels, rare operand types, error messages) stays in Python:
 * cengine.Value subclasses Handle (its class is made here, from its class
 * statement: Handle._value_type), and `Handle._bind` hands over the
 * Python pieces this file calls back into, outside the core. Results come
 * from a free list (pg_spares).
 *
 * It keeps to the stable ABI, as the rest of the module does (cffi builds
 * it abi3): a heap type made by PyType_FromSpec, and no struct field of
 * another type is read.
 *
 * Its functions are named pg_handle_* so that tools that look for the
 * core's frames (scripts/valgrind.sh) see them too.
 *
 * The GIL is held throughout (the module's calls keep it: KEEP_GIL), and no
 * Python code runs between a node's creation and its handle taking it, so
 * Ctrl-C cannot leave a node without an owner here.
 */
#ifndef PYPY_VERSION
#include <stddef.h>
#include <string.h>
#include "structmember.h"   /* T_OBJECT_EX, READONLY (the limited API's PyMemberDef) */

/* A Value's dict, weak references, label and kept operands are fields
 * here, not added by the Python class (cengine.Value declares no slots):
 * CPython's generic dealloc of a class that adds them (subtype_dealloc:
 * clearing each slot, the dict, the weak references, the trashcan) was
 * the largest single cost of an eager op. Here each costs a NULL test
 * until it is used. */
typedef struct {
    PyObject_HEAD
    int id;              /* the node's id in the core; -1: no node (yet) */
    PyObject *dict;      /* the user's attributes; made on first use */
    PyObject *weaklist;  /* weak references to it */
    PyObject *label;     /* Value._label (see Value.label); NULL: none */
    PyObject *operands;  /* Value._operands: the handles _children gave, kept */
} Handle;

static PyTypeObject *HandleType;   /* made by pygrad_publish_handle */

/* Set once by Handle._bind(): the class operator results get (cengine.Value),
 * and the Python functions for what is rare or has a long message. */
static PyTypeObject *result_type;
static PyObject *py_fail;      /* cengine._fail(status, op): raises the Python exception */
static PyObject *py_operand;   /* cengine._operand(self, other): a float, None (NotImplemented), or raises */
static PyObject *py_as_float;  /* _api.as_float(x): a float, or raises TypeError */
static PyObject *py_new;       /* cengine.Value's Python __new__ and __init__: every */
static PyObject *py_init;      /* construction but microgpt's op node (below) */
static PyObject *py_hooks;     /* cengine._hooks: node id -> [op, _backward] */

#define ID(o) (((Handle *)(o))->id)
#define IS_HANDLE(o) ((PyTypeObject *)Py_TYPE(o) == result_type || PyObject_TypeCheck((o), HandleType))

/* The handle on each node, by node id, so that `_prev` gives back the
 * user's own Value in O(1) (Handle._of). Entries are borrowed: a handle
 * enters its node's slot when it gets its node and leaves it in its
 * dealloc, so a slot never points at freed memory. A slot store per op
 * and a clear per dealloc: a weak reference per op would cost about a
 * quarter of the op.
 *
 * Between the last reference going and the dealloc (CPython clears a
 * subclass instance's dict and weak references there, which may run
 * Python code) the handle is still in its slot with no reference left:
 * pg_handle_known skips it, so it is never handed out again.
 *
 * The slots come in pages of 256 ids, made when a handle first needs one,
 * so the table follows the handles alive, not the nodes: most nodes are
 * intermediates whose handle is long gone (a flat array would add 8 bytes
 * to every node's 32). Empty pages are kept for reuse (a handle made and
 * dropped on a page of its own would otherwise cost a page each time) and
 * freed together once they outnumber the pages in use. */
#define PG_PAGE_BITS 8
#define PG_PAGE_SLOTS (1 << PG_PAGE_BITS)
typedef struct {
    int32_t used;                      /* slots not NULL */
    PyObject *slot[PG_PAGE_SLOTS];
} pg_handle_page;
static pg_handle_page **pg_pages;       /* by id >> PG_PAGE_BITS; NULL: no page yet */
static int32_t pg_npages, pg_empty_pages, pg_used_pages;   /* pages with no slot / some slots set */

/* The live handle in node id's slot (borrowed), or NULL. */
static PyObject *pg_handle_known(int32_t id) {
    int32_t p = id >> PG_PAGE_BITS;
    PyObject *h = id >= 0 && p < pg_npages && pg_pages[p] ? pg_pages[p]->slot[id & (PG_PAGE_SLOTS - 1)] : NULL;
    return h != NULL && Py_REFCNT(h) > 0 ? h : NULL;
}

/* The page for id, made if need be; NULL with MemoryError set. */
static pg_handle_page *pg_handle_page_of(int32_t id) {
    int32_t p = id >> PG_PAGE_BITS;
    if (p >= pg_npages) {
        int32_t n = pg_npages ? pg_npages : 64;
        while (n <= p)
            n *= 2;
        pg_handle_page **pages = PyMem_Realloc(pg_pages, (size_t)n * sizeof(*pages));
        if (pages == NULL)
            return (pg_handle_page *)PyErr_NoMemory();
        memset(pages + pg_npages, 0, (size_t)(n - pg_npages) * sizeof(*pages));
        pg_pages = pages;
        pg_npages = n;
    }
    if (pg_pages[p] == NULL) {
        pg_pages[p] = PyMem_Malloc(sizeof(pg_handle_page));   /* (no PyMem_Calloc in 3.9's limited API) */
        if (pg_pages[p] == NULL)
            return (pg_handle_page *)PyErr_NoMemory();
        memset(pg_pages[p], 0, sizeof(pg_handle_page));
        pg_empty_pages++;
    }
    return pg_pages[p];
}

/* Free the empty pages (once they outnumber the pages in use and are more
 * than a few: each pass frees at least as many pages as it keeps). */
static void pg_handle_trim(void) {
    for (int32_t p = 0; p < pg_npages; p++) {
        if (pg_pages[p] != NULL && pg_pages[p]->used == 0) {
            PyMem_Free(pg_pages[p]);
            pg_pages[p] = NULL;
        }
    }
    pg_empty_pages = 0;
}

/* pg_handle_remember's rare cases: a new page, an empty one, a slot taken. */
static int pg_handle_remember_slow(PyObject *h) {
    int32_t id = ID(h);
    if (id < 0)
        return 0;
    pg_handle_page *page = pg_handle_page_of(id);
    if (page == NULL)
        return -1;
    PyObject **slot = &page->slot[id & (PG_PAGE_SLOTS - 1)];
    if (*slot == NULL) {
        if (page->used++ == 0) {
            pg_empty_pages--;
            pg_used_pages++;
        }
        *slot = h;
    } else if (Py_REFCNT(*slot) == 0) {   /* a handle on its way out */
        *slot = h;
    }
    return 0;
}

/* Make h the handle `_prev` gives for its node, unless another live one
 * already is (the first one stays: `_prev` may have handed it out). Once
 * per op: the common case (a free slot on a page in use) is written out
 * here, inline, and the rest is a call. */
static inline int pg_handle_remember(PyObject *h) {
    int32_t id = ID(h), p = id >> PG_PAGE_BITS;
    pg_handle_page *page = id >= 0 && p < pg_npages ? pg_pages[p] : NULL;
    if (page != NULL && page->used > 0 && page->slot[id & (PG_PAGE_SLOTS - 1)] == NULL) {
        page->slot[id & (PG_PAGE_SLOTS - 1)] = h;
        page->used++;
        return 0;
    }
    return pg_handle_remember_slow(h);
}

/* A page's last handle left: count it empty, free the empty ones if due. */
static void pg_handle_page_emptied(void) {
    pg_used_pages--;
    if (++pg_empty_pages > 16 && pg_empty_pages > pg_used_pages)
        pg_handle_trim();
}

static inline void pg_handle_forget(PyObject *h) {
    int32_t id = ID(h), p = id >> PG_PAGE_BITS;
    pg_handle_page *page = id >= 0 && p < pg_npages ? pg_pages[p] : NULL;
    if (page == NULL || page->slot[id & (PG_PAGE_SLOTS - 1)] != h)
        return;
    page->slot[id & (PG_PAGE_SLOTS - 1)] = NULL;
    if (--page->used == 0)
        pg_handle_page_emptied();
}

/* Handle is usable from pygrad._ffi before pygrad.cengine has bound it. */
static int pg_handle_unbound(void) {
    if (result_type != NULL)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "pygrad's C handle is used before pygrad.cengine was imported");
    return 1;
}

static PyObject *pg_handle_fail(int status, int op) {
    PyObject *r = PyObject_CallFunction(py_fail, "ii", status, op);
    if (r != NULL) {   /* cengine._fail always raises; this is only a safety net */
        Py_DECREF(r);
        PyErr_Format(PyExc_RuntimeError, "pygrad: core status %d", status);
    }
    return NULL;
}

/* Spare results: a free list of result_type's objects, by far the most
 * common kind. Allocating and freeing a GC object with a dict and weak
 * references through pymalloc was about a third of an eager op: a spare
 * skips the allocator, the zeroing and the GC's counts. What a spare must
 * look like as new, CPython's subtype_dealloc has done before it calls
 * pg_handle_dealloc: slots, dict and weak references cleared, the object
 * untracked. A spare keeps its reference to its type (PyObject_GC_Del
 * reads the type to find where the block starts); the list is emptied when
 * the class is rebound and at exit (pg_handle_clear_spares), and bounded
 * (CPython's float free list holds 100). */
enum { PG_SPARES_MAX = 128 };
static PyObject *pg_spares[PG_SPARES_MAX];
static int pg_nspares;
static int pg_spares_off;   /* set at exit: objects freed during teardown are not kept */
static int pg_spares_fit;   /* result_type adds no field to Handle's (its dealloc clears them all) */

/* A new object of result_type: a spare if there is one. */
static PyObject *pg_handle_alloc(void) {
    if (pg_nspares == 0)
        return PyType_GenericAlloc(result_type, 0);   /* a Python class's tp_alloc */
    PyObject *o = pg_spares[--pg_nspares];   /* (its fields were cleared by its dealloc) */
    PyObject_Init(o, result_type);   /* a new reference (and one more on the type) */
    Py_DECREF(result_type);          /* ... the one the spare held */
    PyObject_GC_Track(o);            /* as PyType_GenericAlloc leaves it */
    return o;
}

/* Keep self (at the end of its dealloc) as a spare: 1, or 0 if not. Only
 * result_type's own objects: a subclass may have another size or slots.
 * Not one whose __del__ ran (a Value class given one): a spare's would not
 * run again. */
static int pg_handle_keep(PyObject *self) {
    if (Py_TYPE(self) != result_type || pg_nspares == PG_SPARES_MAX || pg_spares_off || !pg_spares_fit ||
        PyObject_GC_IsFinalized(self))
        return 0;
    pg_spares[pg_nspares++] = self;
    return 1;
}

/* Free the spares; off: keep no more (at exit, before the interpreter's
 * teardown, which frees the class). */
static void pg_handle_free_spares(int off) {
    pg_spares_off = off;
    while (pg_nspares > 0) {
        PyObject *o = pg_spares[--pg_nspares];
        PyTypeObject *type = Py_TYPE(o);
        PyObject_GC_Del(o);
        Py_DECREF(type);
    }
}

/* A handle of result_type on node r (r < 0: the core's error status). */
static PyObject *pg_handle_wrap(int32_t r, int op) {
    if (pg_handle_unbound()) {
        if (r >= 0)
            pg_decref(r);
        return NULL;
    }
    if (r < 0)
        return pg_handle_fail((int)-r, op);
    Handle *h = (Handle *)pg_handle_alloc();
    if (h == NULL) {
        pg_decref(r);
        return NULL;
    }
    h->id = r;
    if (pg_handle_remember((PyObject *)h) < 0) {
        Py_DECREF(h);   /* its dealloc releases the node */
        return NULL;
    }
    return (PyObject *)h;
}

/* x as a number for an operator with self: 1 and *k set; 0 if x is not a
 * number (the operator returns NotImplemented); -1 with an exception set. */
static int pg_handle_operand(PyObject *self, PyObject *x, double *k) {
    if (pg_handle_unbound())
        return -1;
    if (PyFloat_Check(x)) {
        *k = PyFloat_AsDouble(x);
        return 1;
    }
    if (!PyLong_Check(x)) {   /* numpy scalars, Fractions, another engine's Value... */
        PyObject *f = PyObject_CallFunctionObjArgs(py_operand, self, x, NULL);
        if (f == NULL)
            return -1;
        int is_none = f == Py_None;
        *k = is_none ? 0.0 : PyFloat_AsDouble(f);
        Py_DECREF(f);
        return is_none ? 0 : (*k == -1.0 && PyErr_Occurred()) ? -1 : 1;
    }
    *k = PyLong_AsDouble(x);
    return (*k == -1.0 && PyErr_Occurred()) ? -1 : 1;
}

/* a <op> b, with a or b a handle (CPython calls a number slot either way
 * round). A number operand becomes a constant leaf; kop is the op used
 * when it is on the right (x ** 2 is POWK: the exponent has no gradient). */
static PyObject *pg_handle_binary(PyObject *a, PyObject *b, int op, int kop) {
    if (IS_HANDLE(a) && IS_HANDLE(b))
        return pg_handle_wrap(pg_binary(op, ID(a), ID(b)), op);
    int k_first = !IS_HANDLE(a);   /* number <op> handle: the reflected form */
    PyObject *self = k_first ? b : a;
    double k;
    int got = pg_handle_operand(self, k_first ? a : b, &k);
    if (got <= 0) {
        if (got == 0)
            Py_RETURN_NOTIMPLEMENTED;
        return NULL;
    }
    int code = k_first ? op : kop;
    return pg_handle_wrap(pg_binary_k(code, ID(self), k, k_first), code);
}

static PyObject *pg_handle_add(PyObject *a, PyObject *b) { return pg_handle_binary(a, b, PG_ADD, PG_ADD); }
static PyObject *pg_handle_sub(PyObject *a, PyObject *b) { return pg_handle_binary(a, b, PG_SUB, PG_SUB); }
static PyObject *pg_handle_mul(PyObject *a, PyObject *b) { return pg_handle_binary(a, b, PG_MUL, PG_MUL); }
static PyObject *pg_handle_div(PyObject *a, PyObject *b) { return pg_handle_binary(a, b, PG_DIV, PG_DIV); }
static PyObject *pg_handle_pow(PyObject *a, PyObject *b, PyObject *mod) {
    if (mod != Py_None)
        Py_RETURN_NOTIMPLEMENTED;   /* pow(v, k, m) has no meaning for a real */
    return pg_handle_binary(a, b, PG_POW, PG_POWK);
}

static PyObject *pg_handle_unary(PyObject *self, int op) { return pg_handle_wrap(pg_unary(op, ID(self)), op); }
static PyObject *pg_handle_neg(PyObject *self) { return pg_handle_unary(self, PG_NEG); }
static PyObject *pg_handle_abs(PyObject *self) { return pg_handle_unary(self, PG_ABS); }

/* The unary methods: PG_HANDLE_UNARY(X) has one row X(name, op, docstring)
 * per unary method of pygrad/_ops.py's table, with _api.ValueBase's
 * docstring; _build.py writes it above this file, so a new op needs no
 * line here. */

#define PG_DEFINE_UNARY(NAME, OP, DOC)                                               \
    static PyObject *pg_handle_##NAME(PyObject *self, PyObject *unused) {                    \
        (void)unused;                                                                \
        return pg_handle_unary(self, OP);                                                      \
    }
PG_HANDLE_UNARY(PG_DEFINE_UNARY)

/* x as a C double for data/grad: ints and floats directly, others through
 * as_float (numpy reals; a TypeError for anything else). */
static int pg_handle_to_double(PyObject *x, double *out) {
    if (pg_handle_unbound())
        return -1;
    if (x == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a Value's data and grad cannot be deleted");
        return -1;
    }
    if (PyFloat_Check(x)) {
        *out = PyFloat_AsDouble(x);
        return 0;
    }
    PyObject *f = PyLong_Check(x) ? (Py_INCREF(x), x) : PyObject_CallFunctionObjArgs(py_as_float, x, NULL);
    if (f == NULL)
        return -1;
    *out = PyFloat_Check(f) ? PyFloat_AsDouble(f) : PyLong_AsDouble(f);
    Py_DECREF(f);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* data and grad: the getset rows below pass the core's reader and writer. */
typedef double (*pg_reader)(int32_t);
typedef int (*pg_writer)(int32_t, double);
typedef struct { pg_reader get; pg_writer set; } pg_field;
static const pg_field pg_data_field = {pg_data, pg_set_data}, pg_grad_field = {pg_grad, pg_set_grad};

static PyObject *pg_handle_get(PyObject *self, void *field) {
    return PyFloat_FromDouble(((const pg_field *)field)->get(ID(self)));
}
static int pg_handle_set(PyObject *self, PyObject *x, void *field) {
    double d;
    if (pg_handle_to_double(x, &d) < 0)
        return -1;
    int status = ((const pg_field *)field)->set(ID(self), d);
    return status ? (pg_handle_fail(status, PG_LEAF), -1) : 0;
}

/* fn(first, *args, **kwargs). */
static PyObject *pg_handle_call_python(PyObject *fn, PyObject *first, PyObject *args, PyObject *kwargs) {
    Py_ssize_t n = PyTuple_Size(args);
    PyObject *all = PyTuple_New(n + 1);
    if (all == NULL)
        return NULL;
    Py_INCREF(first);
    PyTuple_SetItem(all, 0, first);   /* (steals) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GetItem(args, i);
        Py_INCREF(item);
        PyTuple_SetItem(all, i + 1, item);
    }
    PyObject *r = PyObject_Call(fn, all, kwargs);
    Py_DECREF(all);
    return r;
}

/* The length of a tuple or list; -1 for anything else. */
static Py_ssize_t pg_handle_seq_len(PyObject *seq) {
    return PyTuple_Check(seq) ? PyTuple_Size(seq) : PyList_Check(seq) ? PyList_Size(seq) : -1;
}

/* Item i (borrowed) of a tuple or list. */
static PyObject *pg_handle_seq_item(PyObject *seq, Py_ssize_t i) {
    return PyTuple_Check(seq) ? PyTuple_GetItem(seq, i) : PyList_GetItem(seq, i);
}

/* A float or an int (not a subclass, not a bool) as a double: 1; 0 for
 * anything else; -1 with an exception set (an int too large). */
static int pg_handle_plain_number(PyObject *x, double *out) {
    if (PyFloat_CheckExact(x)) {
        *out = PyFloat_AsDouble(x);
        return 1;
    }
    if (!PyLong_CheckExact(x))
        return 0;
    *out = PyLong_AsDouble(x);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 1;
}

static int pg_handle_no_kwargs(PyObject *kwargs) { return kwargs == NULL || PyDict_Size(kwargs) == 0; }

enum { PG_FAST_KIDS = 8 };   /* children of a microgpt op made without malloc */

/* microgpt's op, Value(data, children, local_grads) with a float or int
 * data, 1..PG_FAST_KIDS handles as children and as many floats or ints as
 * local grads, all positional, made in C: one core call and one object, as
 * a built-in op (no Python frame; ~10x faster than the general path).
 * NULL with no exception: not that shape (Python makes it). */
static PyObject *pg_handle_microgpt_op(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (type != result_type || !pg_handle_no_kwargs(kwargs) || PyTuple_Size(args) != 3)
        return NULL;
    PyObject *kids = PyTuple_GetItem(args, 1), *grads = PyTuple_GetItem(args, 2);
    Py_ssize_t n = pg_handle_seq_len(kids);
    if (n < 1 || n > PG_FAST_KIDS || pg_handle_seq_len(grads) != n)
        return NULL;
    int32_t ids[PG_FAST_KIDS];
    double local[PG_FAST_KIDS], x;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *kid = pg_handle_seq_item(kids, i);
        int got = pg_handle_plain_number(pg_handle_seq_item(grads, i), &local[i]);
        if (got <= 0 || !IS_HANDLE(kid))
            return NULL;   /* (got < 0: its exception stands) */
        ids[i] = ID(kid);
    }
    if (pg_handle_plain_number(PyTuple_GetItem(args, 0), &x) <= 0)
        return NULL;
    return pg_handle_wrap(pg_custom(x, (int32_t)n, ids, local), PG_CUSTOM);
}

/* `_id` is set once, by pygrad as it gives a new handle its node: it hands
 * the handle the reference that the call which made the node returned, and
 * enters the handle in the table. A user's `v._id = 3` would make the
 * handle release a node it holds no reference on (and leak its own),
 * corrupting the core's counts, so a second setting is refused. */
static PyObject *pg_handle_get_id(PyObject *self, void *unused) {
    (void)unused;
    return PyLong_FromLong(ID(self));
}
static int pg_handle_set_id(PyObject *self, PyObject *x, void *unused) {
    (void)unused;
    if (x == NULL || ID(self) != -1) {
        PyErr_SetString(PyExc_AttributeError, "a Value's _id is read-only: it is set once, when the Value is made");
        return -1;
    }
    long id = PyLong_AsLong(x);
    if (id == -1 && PyErr_Occurred())
        return -1;
    if (id < 0 || id > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a node id is a non-negative int32");
        return -1;
    }
    pg_handle_forget(self);
    ID(self) = (int)id;
    return pg_handle_remember(self);
}

/* Handle._of(id): the live handle on node id (the user's own Value where
 * one is alive), else a new one that takes a reference to the node. */
static PyObject *pg_handle_of(PyObject *unused, PyObject *arg) {
    (void)unused;
    if (pg_handle_unbound())
        return NULL;
    long id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    PyObject *h = id >= 0 && id <= INT32_MAX ? pg_handle_known((int32_t)id) : NULL;
    if (h != NULL) {
        Py_INCREF(h);
        return h;
    }
    int status = id >= 0 && id <= INT32_MAX ? pg_incref((int32_t)id) : PG_EINVAL;
    if (status)
        return pg_handle_fail(status, PG_LEAF);
    return pg_handle_wrap((int32_t)id, PG_LEAF);
}

static PyObject *pg_handle_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    /* Value(data, ...) or Value(data=...), a subclass's too; with no
     * arguments, cengine's _new(cls): a handle on no node yet (Value()
     * then fails in __init__). */
    if (py_new != NULL && (PyTuple_Size(args) > 0 || !pg_handle_no_kwargs(kwargs))) {
        if (PyTuple_Size(args) == 1 && pg_handle_no_kwargs(kwargs))   /* Value(x): no argument tuple to build */
            return PyObject_CallFunctionObjArgs(py_new, (PyObject *)type, PyTuple_GetItem(args, 0), NULL);
        PyObject *made = pg_handle_microgpt_op(type, args, kwargs);
        if (made != NULL || PyErr_Occurred())
            return made;
        return pg_handle_call_python(py_new, (PyObject *)type, args, kwargs);
    }
    Handle *h = (Handle *)(type == result_type ? pg_handle_alloc() : PyType_GenericAlloc(type, 0));   /* id -1 */
    if (h != NULL)
        h->id = -1;
    return (PyObject *)h;
}

/* __init__: nothing more for Value(x) (a leaf, made by __new__) and for
 * microgpt's op made in C (a custom node, of that exact shape); Python's
 * for everything else. */
static int pg_handle_init(PyObject *self, PyObject *args, PyObject *kwargs) {
    if (py_init == NULL)
        return 0;
    Py_ssize_t nargs = PyTuple_Size(args);
    if (Py_TYPE(self) == result_type && pg_handle_no_kwargs(kwargs) &&
        (nargs == 1 || (nargs == 3 && pg_op(ID(self)) == PG_CUSTOM)))
        return 0;
    PyObject *r = pg_handle_call_python(py_init, self, args, kwargs);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* The Python objects a handle refers to: the GC's traverse and clear. (A
 * heap type's instances refer to their type too.) */
static int pg_handle_traverse(PyObject *self, visitproc visit, void *arg) {
    Handle *h = (Handle *)self;
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(h->dict);
    Py_VISIT(h->label);
    Py_VISIT(h->operands);
    return 0;
}

static int pg_handle_clear(PyObject *self) {
    Handle *h = (Handle *)self;
    Py_CLEAR(h->dict);
    Py_CLEAR(h->label);
    Py_CLEAR(h->operands);
    return 0;
}

/* Also the last step of a subclass instance's dealloc (CPython's
 * subtype_dealloc has cleared what the subclass added). Weak references
 * first, as CPython does: their callbacks may run Python code, which
 * finds the handle no more (pg_handle_known skips it: no reference left).
 * Handle is a heap type, so this drops the instance's reference to it. */
/* A __del__ given to the Value class (made in C, so CPython's generic
 * dealloc, which calls it for a `class` statement's classes, does not):
 * 1 if it resurrected self. As PEP 442 has it, apart from the flag that
 * marks it done (not in the limited API): an object it resurrects may see
 * it again. */
/* cffi builds at the limited API's first level (3.2), which names neither
 * PyType_GetSlot nor its finalizer slot; both are in the stable ABI since
 * 3.4, and this module needs 3.9. */
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 < 0x03040000
PyAPI_FUNC(void *) PyType_GetSlot(PyTypeObject *, int);
#endif
#ifndef Py_tp_finalize
#define Py_tp_finalize 80
#endif
static int pg_handle_finalize(PyObject *self, destructor finalize) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    Py_SET_REFCNT(self, 1);   /* alive while it runs */
    finalize(self);
    PyErr_Restore(type, value, tb);
    Py_SET_REFCNT(self, Py_REFCNT(self) - 1);
    return Py_REFCNT(self) > 0;
}

static void pg_handle_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    Handle *h = (Handle *)self;
    if (type == result_type) {   /* (a subclass's dealloc has run its __del__ already) */
        destructor finalize = (destructor)PyType_GetSlot(type, Py_tp_finalize);
        if (finalize != NULL && !PyObject_GC_IsFinalized(self) && pg_handle_finalize(self, finalize))
            return;
    }
    PyObject_GC_UnTrack(self);
    if (h->weaklist != NULL)
        PyObject_ClearWeakRefs(self);
    if (h->dict != NULL || h->label != NULL || h->operands != NULL)
        pg_handle_clear(self);
    pg_handle_forget(self);
    if (ID(self) >= 0)
        pg_decref(ID(self));
    if (pg_handle_keep(self))   /* (it keeps its type's reference) */
        return;
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

/* `v.__dict__`: made on first use, as CPython's own getter does. */
static PyObject *pg_handle_get_dict(PyObject *self, void *unused) {
    Handle *h = (Handle *)self;
    (void)unused;
    if (h->dict == NULL && (h->dict = PyDict_New()) == NULL)
        return NULL;
    Py_INCREF(h->dict);
    return h->dict;
}

/* `v.__dict__ = d` (a dict, as CPython's own setter requires), and
 * `del v.__dict__` (the attributes go; a new dict comes on next use). */
static int pg_handle_set_dict(PyObject *self, PyObject *value, void *unused) {
    Handle *h = (Handle *)self;
    (void)unused;
    if (value != NULL && !PyDict_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "__dict__ must be set to a dictionary");
        return -1;
    }
    PyObject *old = h->dict;
    Py_XINCREF(value);
    h->dict = value;
    Py_XDECREF(old);
    return 0;
}

/* The core's backward hook, with this handle: a micrograd-form node's
 * _backward, called straight from C, so that such a node costs one Python
 * call in backward. What it raises is parked (as the cancel hook does) for
 * the core's caller to raise. */
static int pg_handle_backward_hook(int32_t id) {
    PyObject *key = PyLong_FromLong(id);
    PyObject *entry = key != NULL ? PyDict_GetItemWithError(py_hooks, key) : NULL;   /* borrowed */
    Py_XDECREF(key);
    PyObject *fn = entry != NULL ? PyList_GetItem(entry, 1) : NULL;
    if (fn == NULL || fn == Py_None) {   /* no entry, or no _backward: nothing to do */
        if (!PyErr_Occurred())
            return 0;
        pygrad_park_exception();
        return 1;
    }
    Py_INCREF(fn);   /* the call may replace the entry */
    PyObject *r = PyObject_CallObject(fn, NULL);
    Py_DECREF(fn);
    if (r == NULL) {
        pygrad_park_exception();
        return 1;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *pg_handle_bind(PyObject *unused, PyObject *args) {
    PyObject *cls, *fail_fn, *operand_fn, *as_float_fn, *new_fn = NULL, *init_fn = NULL, *hooks = NULL;
    (void)unused;
    if (!PyArg_ParseTuple(args, "O!OOO|OOO!", &PyType_Type, &cls, &fail_fn, &operand_fn, &as_float_fn, &new_fn,
                          &init_fn, &PyDict_Type, &hooks))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)cls, HandleType)) {
        PyErr_SetString(PyExc_TypeError, "Handle._bind: the result class must subclass Handle");
        return NULL;
    }
    PyObject *size = PyObject_GetAttrString(cls, "__basicsize__");
    Py_ssize_t basicsize = size != NULL ? PyLong_AsSsize_t(size) : -1;
    Py_XDECREF(size);
    if (basicsize == -1 && PyErr_Occurred())
        return NULL;
    pg_handle_free_spares(0);   /* they are objects of the class bound before */
    PyObject *old[4] = {(PyObject *)result_type, py_fail, py_operand, py_as_float};
    Py_INCREF(cls);
    Py_INCREF(fail_fn);
    Py_INCREF(operand_fn);
    Py_INCREF(as_float_fn);
    result_type = (PyTypeObject *)cls;
    pg_spares_fit = basicsize == (Py_ssize_t)sizeof(Handle);
    py_fail = fail_fn;
    py_operand = operand_fn;
    py_as_float = as_float_fn;
    for (int i = 0; i < 4; i++)
        Py_XDECREF(old[i]);
    PyObject *old_new = py_new, *old_init = py_init;
    Py_XINCREF(new_fn);
    Py_XINCREF(init_fn);
    py_new = new_fn;
    py_init = init_fn;
    Py_XDECREF(old_new);
    Py_XDECREF(old_init);
    if (hooks != NULL) {   /* kept for the process, as the hook is */
        Py_INCREF(hooks);
        Py_XDECREF(py_hooks);
        py_hooks = hooks;
        pg_set_backward_hook(pg_handle_backward_hook);
    }
    Py_RETURN_NONE;
}

/* Handle._dense(packed, nout, nin, xs, relu): a fused dense layer's call
 * (pygrad/_cdense.py) in one C call: the inputs' ids read here, one
 * pg_dense, a handle on each output. packed: the weight ids then the bias
 * ids, int32 in a bytes object. Returns the list of outputs; the core's
 * status (an int) if it failed; None if xs is not a list or tuple of nin
 * of the engine's own Values (Python's path takes those). */
enum { PG_DENSE_STACK = 64 };
static PyObject *pg_handle_dense_outputs(const int32_t *out, int32_t nout) {
    PyObject *list = PyList_New(nout);
    for (int32_t r = 0; r < nout; r++) {
        PyObject *v = list != NULL ? pg_handle_wrap(out[r], PG_LEAF) : NULL;   /* (wrap releases out[r] on failure) */
        if (v == NULL) {
            for (int32_t j = list != NULL ? r + 1 : 0; j < nout; j++)
                pg_decref(out[j]);
            Py_XDECREF(list);
            return NULL;
        }
        PyList_SetItem(list, r, v);   /* (steals) */
    }
    return list;
}

static PyObject *pg_handle_dense(PyObject *unused, PyObject *args) {
    PyObject *packed, *xs;
    int nout, nin, relu;
    (void)unused;
    if (!PyArg_ParseTuple(args, "O!iiOp", &PyBytes_Type, &packed, &nout, &nin, &xs, &relu) || pg_handle_unbound())
        return NULL;
    if (nout < 0 || nin < 0 || PyBytes_Size(packed) != (Py_ssize_t)(nout + (Py_ssize_t)nout * nin) * 4) {
        PyErr_SetString(PyExc_ValueError, "Handle._dense: packed ids do not match the layer's shape");
        return NULL;
    }
    if (pg_handle_seq_len(xs) != nin)
        Py_RETURN_NONE;
    int32_t stack[2 * PG_DENSE_STACK];
    int32_t *ids = nin <= PG_DENSE_STACK && nout <= PG_DENSE_STACK ? stack : PyMem_Malloc((size_t)(nin + nout) * 4);
    if (ids == NULL)
        return PyErr_NoMemory();
    int32_t *out = ids + nin;
    PyObject *result = NULL;
    for (int i = 0; i < nin && result == NULL; i++) {
        PyObject *x = pg_handle_seq_item(xs, i);
        if (Py_TYPE(x) != result_type)
            result = Py_None;   /* a number or a subclass: Python converts it */
        else
            ids[i] = ID(x);
    }
    if (result == NULL) {
        const int32_t *w = (const int32_t *)PyBytes_AsString(packed);
        int status = pg_dense(nout, nin, w, ids, w + (Py_ssize_t)nout * nin, relu, out);
        result = status ? PyLong_FromLong(status) : pg_handle_dense_outputs(out, nout);
    } else {
        Py_INCREF(result);
    }
    if (ids != stack)
        PyMem_Free(ids);
    return result;
}

/* Handle._layer_unchanged(neurons, saved, dicts, used, wlists, wcopies):
 * pygrad.nn's check that a Layer's fused call is still what its neurons
 * say (nn._Fused.unchanged, whose Python is the specification), in C: the
 * same identity comparisons without a Python call per neuron or weight.
 * True or False; None where the Python check must decide (anything but
 * lists, a weight list that is not a plain list). Engine-independent: it
 * compares Python objects by identity only, so no user __eq__ runs. */
static PyObject *pg_handle_layer_unchanged(PyObject *unused, PyObject *args) {
    PyObject *neurons, *saved, *dicts, *used, *wlists, *wcopies;
    static PyObject *keys[3];   /* "w", "b", "nonlin": _USED's order */
    (void)unused;
    if (!PyArg_ParseTuple(args, "OOOOOO", &neurons, &saved, &dicts, &used, &wlists, &wcopies))
        return NULL;
    if (keys[0] == NULL) {
        const char *names[3] = {"w", "b", "nonlin"};
        for (int k = 0; k < 3; k++)
            if ((keys[k] = PyUnicode_InternFromString(names[k])) == NULL)
                return NULL;
    }
    if (!PyList_Check(neurons) || !PyList_Check(saved) || !PyList_Check(dicts) || !PyList_Check(used) ||
        !PyList_Check(wlists) || !PyList_Check(wcopies))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_Size(saved);
    if (PyList_Size(neurons) != n)
        Py_RETURN_FALSE;
    if (PyList_Size(dicts) != n || PyList_Size(used) != 3 * n || PyList_Size(wlists) != n || PyList_Size(wcopies) != n)
        Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_GetItem(neurons, i) != PyList_GetItem(saved, i))
            Py_RETURN_FALSE;
        PyObject *d = PyList_GetItem(dicts, i);
        if (!PyDict_Check(d))
            Py_RETURN_NONE;
        for (int k = 0; k < 3; k++)   /* (a deleted attribute: NULL, not the one saved) */
            if (PyDict_GetItem(d, keys[k]) != PyList_GetItem(used, 3 * i + k))
                Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *w = PyList_GetItem(wlists, i), *copy = PyList_GetItem(wcopies, i);
        if (!PyList_CheckExact(w) || !PyList_Check(copy))
            Py_RETURN_NONE;
        Py_ssize_t m = PyList_Size(copy);
        if (PyList_Size(w) != m)
            Py_RETURN_FALSE;
        for (Py_ssize_t j = 0; j < m; j++)
            if (PyList_GetItem(w, j) != PyList_GetItem(copy, j))
                Py_RETURN_NONE;   /* not the same object: == decides (the Python check) */
    }
    Py_RETURN_TRUE;
}

/* Handle._value_type(bases): a bare class named pygrad.cengine.Value over
 * bases (Handle first), made here so that its instances are freed by
 * pg_handle_dealloc itself: a class made by a `class` statement is freed
 * through CPython's generic subtype_dealloc (untrack, trashcan, a walk of
 * the bases, retrack), about 15% of an eager op. pygrad.cengine gives it
 * its `class` statement's attributes, __module__ among them. Its name is
 * static (CPython 3.9-3.11 keep the spec's pointer as the type's tp_name)
 * and without the module, as a `class` statement's: error messages name
 * the type 'Value'. */
static PyType_Slot value_slots[] = {
    {Py_tp_dealloc, (void *)pg_handle_dealloc},
    {Py_tp_traverse, (void *)pg_handle_traverse},
    {Py_tp_clear, (void *)pg_handle_clear},
    {Py_tp_bases, NULL},   /* set by the call (the module's API level has no PyType_FromSpecWithBases) */
    {0, NULL},
};

static PyType_Spec value_spec = {
    "Value", sizeof(Handle), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    value_slots,
};

static PyObject *pg_handle_value_type(PyObject *unused, PyObject *bases) {
    (void)unused;
    if (!PyTuple_Check(bases) || PyTuple_Size(bases) < 1 || PyTuple_GetItem(bases, 0) != (PyObject *)HandleType) {
        PyErr_SetString(PyExc_TypeError, "Handle._value_type: bases must be a tuple starting with Handle");
        return NULL;
    }
    value_slots[3].pfunc = bases;
    PyObject *made = PyType_FromSpec(&value_spec);
    value_slots[3].pfunc = NULL;
    return made;
}

/* Handle._free_spares(): at exit (pygrad.cengine registers it with atexit),
 * while the class is still alive; objects freed after it are not kept. */
static PyObject *pg_handle_free_spares_at_exit(PyObject *unused, PyObject *noargs) {
    (void)unused;
    (void)noargs;
    pg_handle_free_spares(1);
    Py_RETURN_NONE;
}

#define PG_METHOD_ROW(NAME, OP, DOC) {#NAME, pg_handle_##NAME, METH_NOARGS, DOC},
static PyMethodDef handle_methods[] = {
    PG_HANDLE_UNARY(PG_METHOD_ROW)
    {"_of", pg_handle_of, METH_O | METH_STATIC, "_of(id): the live handle on node id, else a new one"},
    {"_bind", pg_handle_bind, METH_VARARGS | METH_STATIC,
     "_bind(result_class, fail, operand, as_float[, new, init, hooks]): set once by pygrad.cengine"},
    {"_dense", pg_handle_dense, METH_VARARGS | METH_STATIC,
     "_dense(packed_ids, nout, nin, xs, relu): a fused dense layer's outputs (pygrad/_cdense.py)"},
    {"_layer_unchanged", pg_handle_layer_unchanged, METH_VARARGS | METH_STATIC,
     "_layer_unchanged(neurons, saved, dicts, used, wlists, wcopies): pygrad.nn's fused-layer check"},
    {"_value_type", pg_handle_value_type, METH_O | METH_STATIC,
     "_value_type(bases): the bare class pygrad.cengine.Value is made from"},
    {"_free_spares", pg_handle_free_spares_at_exit, METH_NOARGS | METH_STATIC,
     "_free_spares(): free the spare results and keep no more (at exit)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef handle_getset[] = {
    {"__dict__", pg_handle_get_dict, pg_handle_set_dict, "the Value's own attributes", NULL},
    {"_id", pg_handle_get_id, pg_handle_set_id, "the node's id in the C core (-1: none); set once", NULL},
    {"data", pg_handle_get, pg_handle_set, "The value (a float; ints and numpy reals are converted on assignment).",
     (void *)&pg_data_field},
    {"grad", pg_handle_get, pg_handle_set, "d(root)/d(this), accumulated by backward(); also called `value`.",
     (void *)&pg_grad_field},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The dict and weak reference offsets are given as members (how a type
 * made by PyType_FromSpec gets them); _label and _operands act as the
 * slots of a Python class: an AttributeError while unset. */
static PyMemberDef handle_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(Handle, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Handle, weaklist), READONLY, NULL},
    {"_label", T_OBJECT_EX, offsetof(Handle, label), 0, NULL},
    {"_operands", T_OBJECT_EX, offsetof(Handle, operands), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot handle_slots[] = {
    {Py_tp_doc, (void *)"A reference to one node of the C core (the base of pygrad.cengine.Value)."},
    {Py_tp_new, (void *)pg_handle_new},
    {Py_tp_init, (void *)pg_handle_init},
    {Py_tp_dealloc, (void *)pg_handle_dealloc},
    {Py_tp_traverse, (void *)pg_handle_traverse},
    {Py_tp_clear, (void *)pg_handle_clear},
    {Py_tp_members, (void *)handle_members},
    {Py_tp_methods, (void *)handle_methods},
    {Py_tp_getset, (void *)handle_getset},
    {Py_nb_add, (void *)pg_handle_add},
    {Py_nb_subtract, (void *)pg_handle_sub},
    {Py_nb_multiply, (void *)pg_handle_mul},
    {Py_nb_true_divide, (void *)pg_handle_div},
    {Py_nb_power, (void *)pg_handle_pow},
    {Py_nb_negative, (void *)pg_handle_neg},
    {Py_nb_absolute, (void *)pg_handle_abs},
    {0, NULL},
};

static PyType_Spec handle_spec = {
    "pygrad._ffi.Handle", sizeof(Handle), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    handle_slots,
};

/* Put the type in pygrad._ffi as `Handle` (the module calling this, which
 * is in sys.modules already). 1 on success; 0 if it could not be made, and
 * then pygrad uses its pure-Python handle. */
int pygrad_publish_handle(void) {
    PyObject *module = PyDict_GetItemString(PyImport_GetModuleDict(), "pygrad._ffi");   /* borrowed */
    if (HandleType == NULL)
        HandleType = (PyTypeObject *)PyType_FromSpec(&handle_spec);   /* kept for the process */
    if (module == NULL || HandleType == NULL ||
        PyObject_SetAttrString(module, "Handle", (PyObject *)HandleType) < 0) {
        PyErr_Clear();   /* a cffi call must not return with an exception set */
        return 0;
    }
    return 1;
}
#else
int pygrad_publish_handle(void) { return 0; }   /* PyPy: the pure-Python handle */
#endif
