/* lslacq.core.stream._fastpath: the per-chunk plaindata path of OutputStream.send and InputStream.recv in C.
 *
 * An optional accelerator: lslacq/core/stream/fastpath.py loads it when it was built (hatch_build.py) and
 * falls back to the Python path otherwise; both paths put the same bytes on the wire and count the same
 * credit. It handles only the common case (a C-contiguous chunk of the stream's dtype and frame shape,
 * smaller than the zero-copy bound on the way out; a well-formed data message on the way in) and says
 * "not mine" for anything else, which the Python path then takes from the start.
 *
 * No zmq.h and no second libzmq: the few libzmq functions are looked up in the copy pyzmq has loaded
 * (dl_iterate_phdr finds it, dlopen(RTLD_NOLOAD) never loads one). Sockets are pyzmq's, given by their
 * `underlying` address when a PlainSender or PlainReceiver is made, and used as pyzmq uses them: a sender
 * under its stream's lock (the stream drops it under the lock before it closes the socket), a receiver by
 * its stream's reading thread once it has checked, holding the GIL, that the stream still has it.
 *
 * Wire format (lslacq/core/stream/transport.py HEADER, struct "<qqcBB5x"): index int64, n int64,
 * order char ('C'), epoch uint8, shape flag uint8, 5 pad bytes: 24 bytes, then the samples.
 */
#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <Python.h>
#include <structmember.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#ifndef LSLACQ_FASTPATH_SOURCE
#define LSLACQ_FASTPATH_SOURCE "unknown"
#endif

/* ---- libzmq's ABI (stable since 4.0): zmq_msg_t is 64 opaque bytes ---- */
typedef struct {
    unsigned char _[64];
} __attribute__((aligned(8))) zmq_msg_t;
#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2

static int (*zmq_msg_init_size_)(zmq_msg_t *, size_t);
static int (*zmq_msg_init_)(zmq_msg_t *);
static int (*zmq_msg_send_)(zmq_msg_t *, void *, int);
static int (*zmq_msg_recv_)(zmq_msg_t *, void *, int);
static int (*zmq_msg_close_)(zmq_msg_t *);
static void *(*zmq_msg_data_)(zmq_msg_t *);
static size_t (*zmq_msg_size_)(const zmq_msg_t *);
static int (*zmq_msg_more_)(const zmq_msg_t *);
static int (*zmq_send_)(void *, const void *, size_t, int);
static int (*zmq_errno_)(void);
static void (*zmq_version_)(int *, int *, int *);

static char libzmq_path[4096];
static int ready = 0;

#define HEADER_SIZE 24
typedef struct {
    int64_t index;
    int64_t n;
    char order;
    uint8_t epoch;
    uint8_t shape_flag;
    char pad[5];
} header_t;

static int find_libzmq(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    const char *name = info->dlpi_name;
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name;
    if (base && strncmp(base, "libzmq", 6) == 0) {
        strncpy(libzmq_path, name, sizeof(libzmq_path) - 1);
        return 1;
    }
    return 0;
}

static PyTypeObject *ndarray_type;

static PyObject *fp_init(PyObject *self, PyObject *ndarray) {
    (void)self;
    if (!PyType_Check(ndarray)) {
        PyErr_SetString(PyExc_TypeError, "init(numpy.ndarray)");
        return NULL;
    }
    Py_INCREF(ndarray);
    Py_XSETREF(ndarray_type, (PyTypeObject *)ndarray);
    libzmq_path[0] = 0;
    dl_iterate_phdr(find_libzmq, NULL);
    if (!libzmq_path[0]) {
        PyErr_SetString(PyExc_ImportError, "no libzmq is loaded in this process (import zmq first)");
        return NULL;
    }
    void *lib = dlopen(libzmq_path, RTLD_NOW | RTLD_NOLOAD);
    if (!lib) {
        PyErr_Format(PyExc_ImportError, "dlopen(%s, RTLD_NOLOAD) failed: %s", libzmq_path, dlerror());
        return NULL;
    }
#define SYMBOL(var, name)                                                               \
    do {                                                                                \
        *(void **)(&var) = dlsym(lib, name);                                            \
        if (!var) {                                                                     \
            PyErr_Format(PyExc_ImportError, "%s has no symbol %s", libzmq_path, name); \
            return NULL;                                                                \
        }                                                                               \
    } while (0)
    SYMBOL(zmq_msg_init_size_, "zmq_msg_init_size");
    SYMBOL(zmq_msg_init_, "zmq_msg_init");
    SYMBOL(zmq_msg_send_, "zmq_msg_send");
    SYMBOL(zmq_msg_recv_, "zmq_msg_recv");
    SYMBOL(zmq_msg_close_, "zmq_msg_close");
    SYMBOL(zmq_msg_data_, "zmq_msg_data");
    SYMBOL(zmq_msg_size_, "zmq_msg_size");
    SYMBOL(zmq_msg_more_, "zmq_msg_more");
    SYMBOL(zmq_send_, "zmq_send");
    SYMBOL(zmq_errno_, "zmq_errno");
    SYMBOL(zmq_version_, "zmq_version");
#undef SYMBOL
    int major, minor, patch;
    zmq_version_(&major, &minor, &patch);
    ready = 1; /* the handle stays open: it only holds a reference to a library that was loaded already */
    return Py_BuildValue("(s(iii))", libzmq_path, major, minor, patch);
}

static int not_ready(void) {
    if (ready)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "lslacq.core.stream._fastpath.init() was not called");
    return 1;
}

static int as_socket(PyObject *address, void **socket) {
    *socket = PyLong_AsVoidPtr(address);
    if (*socket == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "a NULL zmq socket");
        return -1;
    }
    return 0;
}

/* ---- ReaderCounters: the credit an OutputStream keeps per reader (flowcontrol.ReaderState's base) ---- */
typedef struct {
    PyObject_HEAD
    long long sent_messages, sent_bytes, acked_messages, acked_bytes;
    long long window_messages, window_bytes, min_messages, min_bytes;
    char credit;
} ReaderCounters;

static PyMemberDef reader_members[] = {
    {"sent_messages", T_LONGLONG, offsetof(ReaderCounters, sent_messages), 0, "messages sent to this reader"},
    {"sent_bytes", T_LONGLONG, offsetof(ReaderCounters, sent_bytes), 0, "bytes sent to this reader"},
    {"acked_messages", T_LONGLONG, offsetof(ReaderCounters, acked_messages), 0, "messages it acknowledged"},
    {"acked_bytes", T_LONGLONG, offsetof(ReaderCounters, acked_bytes), 0, "bytes it acknowledged"},
    {"window_messages", T_LONGLONG, offsetof(ReaderCounters, window_messages), 0, "messages kept in flight"},
    {"window_bytes", T_LONGLONG, offsetof(ReaderCounters, window_bytes), 0, "bytes kept in flight"},
    {"min_messages", T_LONGLONG, offsetof(ReaderCounters, min_messages), 0, "its acknowledgement step"},
    {"min_bytes", T_LONGLONG, offsetof(ReaderCounters, min_bytes), 0, "its acknowledgement step in bytes"},
    {"credit", T_BOOL, offsetof(ReaderCounters, credit), 0, "it gives credit (sends ACKs)"},
    {NULL, 0, 0, 0, NULL},
};

/* (a Python subclass such as ReaderState adds its __dict__ and the GC; subtype_dealloc then calls this) */
static void counters_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyType_Slot reader_slots[] = {
    {Py_tp_doc, "The credit counters of one reader, in C (lslacq.core.stream.flowcontrol.ReaderState's base)."},
    {Py_tp_members, reader_members},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, counters_dealloc},
    {0, NULL},
};

static PyType_Spec reader_spec = {
    "lslacq.core.stream._fastpath.ReaderCounters",
    sizeof(ReaderCounters),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    reader_slots,
};

/* ---- RxCounters: what an InputStream has taken, for its ACKs ---- */
typedef struct {
    PyObject_HEAD
    long long messages, nbytes, ack_messages, ack_bytes;
    double ack_deadline;
    char credit;
} RxCounters;

static PyMemberDef rx_members[] = {
    {"messages", T_LONGLONG, offsetof(RxCounters, messages), 0, "data messages taken from the socket"},
    {"nbytes", T_LONGLONG, offsetof(RxCounters, nbytes), 0, "their bytes"},
    {"ack_messages", T_LONGLONG, offsetof(RxCounters, ack_messages), 0, "acknowledge when messages reach this"},
    {"ack_bytes", T_LONGLONG, offsetof(RxCounters, ack_bytes), 0, "or the bytes this"},
    {"ack_deadline", T_DOUBLE, offsetof(RxCounters, ack_deadline), 0, "or time.monotonic() this"},
    {"credit", T_BOOL, offsetof(RxCounters, credit), 0, "the stream gives credit"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot rx_slots[] = {
    {Py_tp_doc, "What an InputStream took from its socket (its credit), in C."},
    {Py_tp_members, rx_members},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, counters_dealloc},
    {0, NULL},
};

static PyType_Spec rx_spec = {
    "lslacq.core.stream._fastpath.RxCounters",
    sizeof(RxCounters),
    0,
    Py_TPFLAGS_DEFAULT,
    rx_slots,
};

/* ---- Frame: a received zmq message, read through the buffer protocol (no copy) ---- */
typedef struct {
    PyObject_HEAD
    zmq_msg_t msg;
} Frame;

static void frame_dealloc(Frame *self) {
    PyTypeObject *type = Py_TYPE(self);
    zmq_msg_close_(&self->msg);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static int frame_getbuffer(Frame *self, Py_buffer *view, int flags) {
    if (PyBuffer_FillInfo(view, (PyObject *)self, zmq_msg_data_(&self->msg), (Py_ssize_t)zmq_msg_size_(&self->msg),
                          0, flags) < 0) /* writable, as pyzmq's frames are */
        return -1;
    return 0;
}

static Py_ssize_t frame_length(Frame *self) { return (Py_ssize_t)zmq_msg_size_(&self->msg); }

static PyObject *frame_bytes(Frame *self, PyObject *noargs) {
    (void)noargs;
    return PyBytes_FromStringAndSize(zmq_msg_data_(&self->msg), (Py_ssize_t)zmq_msg_size_(&self->msg));
}

static PyMethodDef frame_methods[] = {
    {"__bytes__", (PyCFunction)frame_bytes, METH_NOARGS, "A copy of the frame's bytes."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot frame_slots[] = {
    {Py_tp_doc, "A received zmq frame (its buffer is the message's, released with the object)."},
    {Py_tp_dealloc, frame_dealloc},
    {Py_tp_methods, frame_methods},
    {Py_sq_length, frame_length},
    {Py_mp_length, frame_length},
    {Py_bf_getbuffer, frame_getbuffer},
    {0, NULL},
};

static PyType_Spec frame_spec = {
    "lslacq.core.stream._fastpath.Frame",
    sizeof(Frame),
    0,
    Py_TPFLAGS_DEFAULT,
    frame_slots,
};

static PyTypeObject *ReaderCountersType, *RxCountersType, *FrameType, *PlainSenderType, *PlainReceiverType;
static PyObject *str_last_index, *str_backlog, *str_identity, *str_epoch, *str_reader_list, *str_ticks_requested, *str_rx,
    *str_fast,
    *str_stream_last_index;

static Frame *new_frame(void) {
    Frame *frame = PyObject_New(Frame, FrameType);
    if (!frame)
        return NULL;
    zmq_msg_init_(&frame->msg);
    return frame;
}

/* ---- send ---- */

/* numpy's ndarray object: its leading fields are numpy's public ABI (numpy/ndarraytypes.h,
 * PyArrayObject_fields, the same in numpy 1.x and 2.x). Only exact ndarrays are read this way. */
typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
    PyObject *descr;
    int flags;
} ndarray_fields;
#define NPY_C_CONTIGUOUS 0x0001


static int has_room(ReaderCounters *r, long long nbytes) {
    if (!r->credit)
        return 1;
    if (r->sent_messages - r->acked_messages >= r->window_messages)
        return 0;
    long long in_flight = r->sent_bytes - r->acked_bytes;
    return in_flight + nbytes <= r->window_bytes || in_flight < r->min_bytes;
}

/* The reader's backlog is empty (a Python deque in ReaderState's __dict__): 1, 0, or -1 on an error. */
static int backlog_empty(PyObject *reader) {
    PyObject *backlog = PyObject_GetAttr(reader, str_backlog);
    if (!backlog)
        return -1;
    Py_ssize_t length = PyObject_Length(backlog);
    Py_DECREF(backlog);
    return length < 0 ? -1 : length == 0;
}

static int set_last_index(PyObject *output, long long value) {
    PyObject *number = PyLong_FromLongLong(value);
    if (!number)
        return -1;
    int rc = PyObject_SetAttr(output, str_last_index, number);
    Py_DECREF(number);
    return rc;
}

static double monotonic(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* time.monotonic() and time.perf_counter()'s clock on Linux */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static long long get_long_attr(PyObject *object, PyObject *name) {
    PyObject *value = PyObject_GetAttr(object, name);
    if (!value)
        return -1;
    long long number = PyLong_AsLongLong(value);
    Py_DECREF(value);
    return number;
}

/* ---- PlainSender: OutputStream.send's common case ---- */
typedef struct {
    PyObject_HEAD
    void *socket;
    PyObject *dtype;
    long long itemsize;
    long long per_sample; /* values per sample */
    int frame_ndim;
    Py_ssize_t frame_shape[16];
    long long zero_copy_min_bytes; /* chunks this big or bigger take the Python path (two frames, no copy) */
    double look_interval;          /* how often a sending output looks at its socket */
    double sent_at;                /* time.perf_counter() of its last send */
    double next_look;              /* when the output should next look at its socket */
} PlainSender;

static PyMemberDef sender_members[] = {
    {"sent_at", T_DOUBLE, offsetof(PlainSender, sent_at), READONLY, "time.perf_counter() of its last send"},
    {NULL, 0, 0, 0, NULL},
};

static int sender_init(PlainSender *self, PyObject *args, PyObject *kwargs) {
    PyObject *address, *dtype, *frame_shape;
    long long itemsize;
    static char *names[] = {"socket_address", "dtype", "itemsize", "frame_shape", "zero_copy_min_bytes",
                            "look_interval", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOLO!Ld:PlainSender", names, &address, &dtype, &itemsize,
                                     &PyTuple_Type, &frame_shape, &self->zero_copy_min_bytes, &self->look_interval))
        return -1;
    if (not_ready() || as_socket(address, &self->socket) < 0)
        return -1;
    if (PyTuple_GET_SIZE(frame_shape) > 16 || itemsize <= 0) {
        PyErr_SetString(PyExc_ValueError, "PlainSender: at most 16 frame dimensions and an itemsize > 0");
        return -1;
    }
    self->frame_ndim = (int)PyTuple_GET_SIZE(frame_shape);
    self->per_sample = 1;
    for (int k = 0; k < self->frame_ndim; k++) {
        self->frame_shape[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(frame_shape, k));
        if (self->frame_shape[k] < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "PlainSender: a frame dimension < 0");
            return -1;
        }
        self->per_sample *= self->frame_shape[k];
    }
    self->itemsize = itemsize;
    Py_INCREF(dtype);
    Py_XSETREF(self->dtype, dtype);
    return 0;
}

static void sender_dealloc(PlainSender *self) {
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(self->dtype);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* After a send: 1 if the output need not look at its socket now (ZMQ_FD is edge-triggered: see
 * OutputStream._look_after_send, which the caller runs otherwise), 0 if it should, -1 on an error. */
static int no_look_due(PlainSender *self, PyObject *output) {
    double now = monotonic();
    self->sent_at = now;
    if (now >= self->next_look) {
        self->next_look = now + self->look_interval;
        return 0;
    }
    PyObject *requested = PyObject_GetAttr(output, str_ticks_requested);
    if (!requested)
        return -1;
    int ticking = PyObject_IsTrue(requested);
    Py_DECREF(requested);
    return ticking;
}

/* PlainSender.send(output, data, index)
 *
 * OutputStream.send's common case, called with the output's lock held: an exact C-contiguous ndarray of the
 * stream's dtype and frame shape, smaller than zero_copy_min_bytes, for readers (output._reader_list, of
 * ReaderCounters) that can all take it now. Sets output.last_index, then sends [routing id][header and
 * samples] to each reader and counts it. Returns True when all is done; False when done but the output
 * should look at its socket now (OutputStream._look_after_send); None when it did nothing (the Python path
 * sends the chunk); or a list of (reader, errno) for readers whose routing id was refused (EAGAIN,
 * EHOSTUNREACH) after an earlier reader got the chunk, which the Python path queues the chunk for or lets go,
 * before it looks at its socket. */
static PyObject *sender_send(PlainSender *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "send(output, data, index)");
        return NULL;
    }
    PyObject *output = args[0], *data = args[1], *index_obj = args[2];
    if (Py_TYPE(data) != ndarray_type)
        Py_RETURN_NONE;
    ndarray_fields *array = (ndarray_fields *)data;
    if (array->descr != self->dtype || array->nd != self->frame_ndim + 1 || !(array->flags & NPY_C_CONTIGUOUS))
        Py_RETURN_NONE; /* (the stream's dtype object is the array's for numpy's builtin types) */
    for (int k = 0; k < self->frame_ndim; k++)
        if (array->dimensions[k + 1] != self->frame_shape[k])
            Py_RETURN_NONE;
    long long n = array->dimensions[0];
    long long data_bytes = n * self->per_sample * self->itemsize;
    if (data_bytes >= self->zero_copy_min_bytes)
        Py_RETURN_NONE;
    long long last_index = get_long_attr(output, str_last_index);
    long long epoch = get_long_attr(output, str_epoch);
    if (PyErr_Occurred())
        return NULL;
    long long index = last_index + n;
    if (index_obj != Py_None) {
        index = PyLong_AsLongLong(index_obj);
        if (index == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        if (index - n < last_index) /* a new run: the Python path resets the count */
            Py_RETURN_NONE;
    }
    PyObject *readers = PyObject_GetAttr(output, str_reader_list);
    if (!readers)
        return NULL;
    PyObject *result = NULL, *refused = NULL;
    if (!PyList_CheckExact(readers))
        goto not_mine;
    Py_ssize_t n_readers = PyList_GET_SIZE(readers);
    long long nbytes = HEADER_SIZE + data_bytes;
    for (Py_ssize_t k = 0; k < n_readers; k++) { /* every reader can take it now, or the Python path decides */
        PyObject *reader = PyList_GET_ITEM(readers, k);
        if (!PyObject_TypeCheck(reader, ReaderCountersType))
            goto not_mine;
        int empty = backlog_empty(reader);
        if (empty < 0)
            goto done;
        if (!empty || !has_room((ReaderCounters *)reader, nbytes))
            goto not_mine;
    }
    header_t header;
    memset(&header, 0, sizeof(header));
    header.index = index;
    header.n = n;
    header.order = 'C';
    header.epoch = (uint8_t)epoch;
    if (set_last_index(output, index) < 0) /* counted before it leaves */
        goto done;
    for (Py_ssize_t k = 0; k < n_readers; k++) {
        ReaderCounters *reader = (ReaderCounters *)PyList_GET_ITEM(readers, k);
        PyObject *identity = PyObject_GetAttr((PyObject *)reader, str_identity);
        char *id;
        Py_ssize_t id_len;
        if (!identity || PyBytes_AsStringAndSize(identity, &id, &id_len) < 0) {
            Py_XDECREF(identity);
            goto done;
        }
        int rc = zmq_send_(self->socket, id, (size_t)id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        Py_DECREF(identity);
        if (rc < 0) {
            int error = zmq_errno_();
            if (error != EAGAIN && error != EHOSTUNREACH) {
                errno = error;
                PyErr_SetFromErrno(PyExc_OSError);
                goto done;
            }
            if (k == 0) { /* nobody has it: leave it all to the Python path */
                if (set_last_index(output, last_index) < 0)
                    goto done;
                goto not_mine;
            }
            if (!refused && !(refused = PyList_New(0)))
                goto done;
            PyObject *pair = Py_BuildValue("(Oi)", (PyObject *)reader, error);
            if (!pair || PyList_Append(refused, pair) < 0) {
                Py_XDECREF(pair);
                goto done;
            }
            Py_DECREF(pair);
            continue;
        }
        zmq_msg_t msg;
        if (zmq_msg_init_size_(&msg, (size_t)nbytes) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        char *frame = zmq_msg_data_(&msg);
        memcpy(frame, &header, HEADER_SIZE);
        memcpy(frame + HEADER_SIZE, array->data, (size_t)data_bytes);
        if (zmq_msg_send_(&msg, self->socket, ZMQ_DONTWAIT) < 0) { /* the routing id was taken: so is the rest */
            errno = zmq_errno_();
            zmq_msg_close_(&msg);
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
        reader->sent_messages += 1;
        reader->sent_bytes += nbytes;
    }
    if (refused) {
        result = refused;
        refused = NULL;
        goto done;
    }
    int quiet = no_look_due(self, output);
    if (quiet >= 0)
        result = PyBool_FromLong(quiet);
    goto done;
not_mine:
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(refused);
    Py_DECREF(readers);
    return result;
}

static PyMethodDef sender_methods[] = {
    {"send", (PyCFunction)(void (*)(void))sender_send, METH_FASTCALL, "OutputStream.send's common case."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot sender_slots[] = {
    {Py_tp_doc, "PlainSender(socket_address, dtype, itemsize, frame_shape, zero_copy_min_bytes, look_interval): "
                "OutputStream.send's common case."},
    {Py_tp_init, sender_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, sender_dealloc},
    {Py_tp_methods, sender_methods},
    {Py_tp_members, sender_members},
    {0, NULL},
};

static PyType_Spec sender_spec = {
    "lslacq.core.stream._fastpath.PlainSender",
    sizeof(PlainSender),
    0,
    Py_TPFLAGS_DEFAULT,
    sender_slots,
};

/* ---- receive ---- */

/* Receive one frame into `frame` (a non-blocking try with the GIL, then a wait without it, as long as the
 * socket's RCVTIMEO); 0, or the zmq errno (EAGAIN: nothing within the timeout); -1 with a Python error set. */
static int receive(void *socket, Frame *frame, int wait) {
    int rc = zmq_msg_recv_(&frame->msg, socket, ZMQ_DONTWAIT);
    if (rc >= 0)
        return 0;
    int error = zmq_errno_();
    if (error != EAGAIN || !wait)
        return error;
    for (;;) {
        PyThreadState *state = PyEval_SaveThread();
        rc = zmq_msg_recv_(&frame->msg, socket, 0);
        error = rc < 0 ? zmq_errno_() : 0;
        PyEval_RestoreThread(state);
        if (rc >= 0)
            return 0;
        if (error != EINTR)
            return error;
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

static int took(RxCounters *rx, long long nbytes) {
    if (!rx->credit)
        return 0;
    rx->messages += 1;
    rx->nbytes += nbytes;
    return rx->messages >= rx->ack_messages || rx->nbytes >= rx->ack_bytes || monotonic() >= rx->ack_deadline;
}

/* ---- PlainReceiver: InputStream.recv's plaindata path ---- */
typedef struct {
    PyObject_HEAD
    void *socket;
    PyObject *dtype;
    PyObject *frame_shape; /* a tuple */
    long long row_nbytes;
} PlainReceiver;

static int receiver_init(PlainReceiver *self, PyObject *args, PyObject *kwargs) {
    PyObject *address, *dtype, *frame_shape;
    long long row_nbytes;
    static char *names[] = {"socket_address", "dtype", "frame_shape", "row_nbytes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!L:PlainReceiver", names, &address, &dtype, &PyTuple_Type,
                                     &frame_shape, &row_nbytes))
        return -1;
    if (not_ready() || as_socket(address, &self->socket) < 0)
        return -1;
    if (row_nbytes < 0) {
        PyErr_SetString(PyExc_ValueError, "PlainReceiver: row_nbytes < 0");
        return -1;
    }
    self->row_nbytes = row_nbytes;
    Py_INCREF(dtype);
    Py_XSETREF(self->dtype, dtype);
    Py_INCREF(frame_shape);
    Py_XSETREF(self->frame_shape, frame_shape);
    return 0;
}

static void receiver_dealloc(PlainReceiver *self) {
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(self->dtype);
    Py_XDECREF(self->frame_shape);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *os_error(int error) {
    errno = error;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* The chunk's samples as an ndarray of (n,) + frame_shape on `frame` from `offset` (no copy). */
static PyObject *as_array(PlainReceiver *self, long long n, PyObject *frame, Py_ssize_t offset) {
    Py_ssize_t frame_ndim = PyTuple_GET_SIZE(self->frame_shape);
    PyObject *shape = PyTuple_New(frame_ndim + 1);
    if (!shape)
        return NULL;
    PyObject *count = PyLong_FromLongLong(n);
    if (!count) {
        Py_DECREF(shape);
        return NULL;
    }
    PyTuple_SET_ITEM(shape, 0, count);
    for (Py_ssize_t k = 0; k < frame_ndim; k++) {
        PyObject *size = PyTuple_GET_ITEM(self->frame_shape, k);
        Py_INCREF(size);
        PyTuple_SET_ITEM(shape, k + 1, size);
    }
    PyObject *start = PyLong_FromSsize_t(offset);
    if (!start) {
        Py_DECREF(shape);
        return NULL;
    }
    PyObject *arguments[4] = {shape, self->dtype, frame, start}; /* ndarray(shape, dtype, buffer, offset) */
    PyObject *array = PyObject_Vectorcall((PyObject *)ndarray_type, arguments, 4, NULL);
    Py_DECREF(shape);
    Py_DECREF(start);
    return array;
}

/* Account for a chunk of the run `epoch` ending at `index` as InputStream.recv does: the next one in order
 * moves stream._last_index on; anything else goes to stream._check_continuity (gaps, new runs). */
static int continue_run(PyObject *stream, long long index, long long n, int epoch) {
    PyObject *current = PyObject_GetAttr(stream, str_epoch);
    if (!current)
        return -1;
    int same_run = PyLong_Check(current) && PyLong_AsLong(current) == epoch;
    Py_DECREF(current);
    if (same_run) {
        PyObject *last = PyObject_GetAttr(stream, str_stream_last_index);
        if (!last)
            return -1;
        int next = PyLong_Check(last) && PyLong_AsLongLong(last) == index - n;
        Py_DECREF(last);
        if (PyErr_Occurred())
            return -1;
        if (next) {
            PyObject *value = PyLong_FromLongLong(index);
            if (!value)
                return -1;
            int rc = PyObject_SetAttr(stream, str_stream_last_index, value);
            Py_DECREF(value);
            return rc;
        }
    }
    PyObject *result = PyObject_CallMethod(stream, "_check_continuity", "LLi", index, n, epoch);
    Py_XDECREF(result);
    return result ? 0 : -1;
}

/* PlainReceiver.recv(stream)
 *
 * One message of an InputStream's socket, as its plaindata path takes it: counted in stream._rx (ACKs sent
 * by stream._acknowledge() when due), and for a data chunk in C order without its own shape whose size
 * matches, placed in the run (stream._last_index, stream._check_continuity) and returned as (index, data),
 * data an ndarray on the message (no copy). Any other message comes back as (None, head, payload), payload
 * None for a single frame and head b"" for a message of three frames or more, as the Python path leaves
 * them. An int is the zmq errno of a failed receive (EAGAIN: nothing within the socket's RCVTIMEO; ENOTSOCK:
 * the stream was closed meanwhile). */
static PyObject *receiver_recv(PlainReceiver *self, PyObject *stream) {
    PyObject *current = PyObject_GetAttr(stream, str_fast);
    if (!current)
        return NULL;
    Py_DECREF(current); /* (compared by identity only) */
    if (current != (PyObject *)self) /* closed since its caller looked: the socket is gone, as pyzmq says it */
        return PyLong_FromLong(ENOTSOCK);
    PyObject *rx_object = PyObject_GetAttr(stream, str_rx);
    if (!rx_object)
        return NULL;
    if (!PyObject_TypeCheck(rx_object, RxCountersType)) {
        Py_DECREF(rx_object);
        PyErr_SetString(PyExc_TypeError, "PlainReceiver.recv: stream._rx is not an RxCounters");
        return NULL;
    }
    RxCounters *rx = (RxCounters *)rx_object;
    PyObject *result = NULL;
    Frame *payload = NULL;
    Frame *head = new_frame();
    if (!head)
        goto done;
    int error = receive(self->socket, head, 1);
    if (error) {
        result = error < 0 ? NULL : PyLong_FromLong(error);
        goto done;
    }
    long long size = (long long)zmq_msg_size_(&head->msg);
    long long total = size;
    int ack_due = 0;
    if (zmq_msg_more_(&head->msg)) {
        if (!(payload = new_frame()))
            goto done;
        if ((error = receive(self->socket, payload, 1)) != 0) { /* (the rest of a message is there at once) */
            if (error > 0)
                os_error(error);
            goto done;
        }
        if (zmq_msg_more_(&payload->msg)) { /* no valid message has three parts: drain it */
            while (zmq_msg_more_(&payload->msg)) {
                zmq_msg_close_(&payload->msg);
                zmq_msg_init_(&payload->msg);
                if ((error = receive(self->socket, payload, 1)) != 0) {
                    if (error > 0)
                        os_error(error);
                    goto done;
                }
            }
            result = Py_BuildValue("(OyO)", Py_None, "", (PyObject *)payload);
            goto done;
        }
        total += (long long)zmq_msg_size_(&payload->msg);
        ack_due = took(rx, total);
    } else if (size >= HEADER_SIZE) {
        ack_due = took(rx, size);
    }
    if (ack_due) { /* (before the chunk is decoded, as the Python path does) */
        PyObject *acknowledged = PyObject_CallMethod(stream, "_acknowledge", NULL);
        if (!acknowledged)
            goto done;
        Py_DECREF(acknowledged);
    }
    if (size == HEADER_SIZE || (!payload && size > HEADER_SIZE)) {
        header_t header;
        memcpy(&header, zmq_msg_data_(&head->msg), HEADER_SIZE);
        long long data_bytes = payload ? total - size : size - HEADER_SIZE;
        if (header.order == 'C' && !header.shape_flag && header.n >= 0 && data_bytes == header.n * self->row_nbytes) {
            if (continue_run(stream, header.index, header.n, header.epoch) < 0)
                goto done;
            PyObject *data = payload ? as_array(self, header.n, (PyObject *)payload, 0)
                                     : as_array(self, header.n, (PyObject *)head, HEADER_SIZE);
            if (data)
                result = Py_BuildValue("(LN)", (long long)header.index, data);
            goto done;
        }
    }
    result = Py_BuildValue("(OOO)", Py_None, (PyObject *)head, payload ? (PyObject *)payload : Py_None);
done:
    Py_XDECREF(head);
    Py_XDECREF(payload);
    Py_DECREF(rx_object);
    return result;
}

static PyMethodDef receiver_methods[] = {
    {"recv", (PyCFunction)receiver_recv, METH_O, "InputStream.recv's plaindata path."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot receiver_slots[] = {
    {Py_tp_doc, "PlainReceiver(socket_address, dtype, frame_shape, row_nbytes): InputStream.recv's plaindata path."},
    {Py_tp_init, receiver_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, receiver_dealloc},
    {Py_tp_methods, receiver_methods},
    {0, NULL},
};

static PyType_Spec receiver_spec = {
    "lslacq.core.stream._fastpath.PlainReceiver",
    sizeof(PlainReceiver),
    0,
    Py_TPFLAGS_DEFAULT,
    receiver_slots,
};

static PyObject *fp_source(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(LSLACQ_FASTPATH_SOURCE);
}

static PyMethodDef methods[] = {
    {"init", fp_init, METH_O, "init(numpy.ndarray): find pyzmq's libzmq in this process; return (its path, its version)."},
    {"source", fp_source, METH_NOARGS, "The SHA-256 of the _fastpath.c this module was built from."},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *module) {
    if (!(str_last_index = PyUnicode_InternFromString("last_index")) ||
        !(str_backlog = PyUnicode_InternFromString("backlog")) ||
        !(str_identity = PyUnicode_InternFromString("identity")) ||
        !(str_epoch = PyUnicode_InternFromString("_epoch")) ||
        !(str_reader_list = PyUnicode_InternFromString("_reader_list")) ||
        !(str_ticks_requested = PyUnicode_InternFromString("_ticks_requested")) ||
        !(str_rx = PyUnicode_InternFromString("_rx")) || !(str_fast = PyUnicode_InternFromString("_fast")) ||
        !(str_stream_last_index = PyUnicode_InternFromString("_last_index")))
        return -1;
    if (!(ReaderCountersType = (PyTypeObject *)PyType_FromSpec(&reader_spec)) ||
        !(RxCountersType = (PyTypeObject *)PyType_FromSpec(&rx_spec)) ||
        !(FrameType = (PyTypeObject *)PyType_FromSpec(&frame_spec)) ||
        !(PlainSenderType = (PyTypeObject *)PyType_FromSpec(&sender_spec)) ||
        !(PlainReceiverType = (PyTypeObject *)PyType_FromSpec(&receiver_spec)))
        return -1;
    /* references held by the module's globals for the process's life (the module is never unloaded) */
    Py_INCREF(ReaderCountersType);
    Py_INCREF(RxCountersType);
    Py_INCREF(FrameType);
    Py_INCREF(PlainSenderType);
    Py_INCREF(PlainReceiverType);
    if (PyModule_AddObject(module, "ReaderCounters", (PyObject *)ReaderCountersType) < 0 ||
        PyModule_AddObject(module, "RxCounters", (PyObject *)RxCountersType) < 0 ||
        PyModule_AddObject(module, "Frame", (PyObject *)FrameType) < 0 ||
        PyModule_AddObject(module, "PlainSender", (PyObject *)PlainSenderType) < 0 ||
        PyModule_AddObject(module, "PlainReceiver", (PyObject *)PlainReceiverType) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, module_exec}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fastpath", "lslacq's per-chunk plaindata path in C (optional; see fastpath.py).",
    0, methods, module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastpath(void) { return PyModuleDef_Init(&module_def); }
