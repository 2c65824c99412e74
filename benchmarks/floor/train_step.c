/*
 * train_step.c - the floor for micrograd's demo training step, written as
 * a C programmer would: an MLP with ReLU hidden layers and a linear output,
 * weights in one flat array, activations in small stack arrays, each data
 * row run forward and then backward by hand, its gradients summed, then
 * the L2 term and the SGD update.
 *
 * Layout: params holds, layer by layer and neuron by neuron, a neuron's
 * nin weights and then its bias (micrograd's model.parameters() order).
 * X is row-major (n, sizes[0]); y holds the labels, -1 or +1.
 *
 * The arithmetic is pygrad's compiled step (examples/moons.py --compiled)
 * operation for operation and in the same order: a neuron is
 * b + w0*x0 + w1*x1 + ..., a row's loss relu(1 + (-y) * score), each row
 * differentiated from a seed of 1/n (as `(loss / n).backward()` would) into
 * gradients that accumulate over the rows, hidden gradients summed over
 * the next layer's neurons last to first (the order of pygrad's reverse
 * sweep), then the gradient of alpha * sum(p * p) added term by term (as
 * the compiled L2 program adds p * alpha twice), p -= lr * grad.
 * So the losses agree with pygrad's to the last bit, which the benchmark
 * checks: the floor does the same work, minus the machinery.
 */
#include <math.h>   /* NAN */
#include <stdint.h>

#define FL_MAX_LAYERS 8
#define FL_MAX_WIDTH 64

typedef double fl_acts[FL_MAX_LAYERS + 1][FL_MAX_WIDTH];

static int fits(int32_t nlayers, const int32_t *sizes) {
    if (nlayers < 1 || nlayers > FL_MAX_LAYERS || sizes[nlayers] != 1) return 0;
    for (int32_t l = 0; l <= nlayers; l++)
        if (sizes[l] < 1 || sizes[l] > FL_MAX_WIDTH) return 0;
    return 1;
}

/* act[0] = x; act[l+1] = layer l's outputs. Returns the score. */
static double forward_row(int32_t nlayers, const int32_t *sizes, const double *params,
                          const double *x, fl_acts act) {
    for (int32_t i = 0; i < sizes[0]; i++) act[0][i] = x[i];
    const double *p = params;
    for (int32_t l = 0; l < nlayers; l++) {
        int32_t nin = sizes[l], nout = sizes[l + 1], relu = l < nlayers - 1;
        for (int32_t k = 0; k < nout; k++, p += nin + 1) {
            double s = p[nin];
            for (int32_t i = 0; i < nin; i++) s = s + p[i] * act[l][i];
            act[l + 1][k] = relu && s < 0.0 ? 0.0 : s;
        }
    }
    return act[nlayers][0];
}

static double hinge(double score, double y) {
    double v = 1.0 + (-y) * score;
    return v < 0.0 ? 0.0 : v;
}

/* Add d(row loss)/d(param) into grad, given d(loss)/d(score) (which
 * carries the seed). */
static void backward_row(int32_t nlayers, const int32_t *sizes, const double *params,
                         fl_acts act, double gscore, double *grad) {
    int64_t offset[FL_MAX_LAYERS + 1];
    offset[0] = 0;
    for (int32_t l = 0; l < nlayers; l++) offset[l + 1] = offset[l] + (int64_t)sizes[l + 1] * (sizes[l] + 1);
    double gout[FL_MAX_WIDTH], gin[FL_MAX_WIDTH];
    gout[0] = gscore;                     /* the output layer is linear */
    for (int32_t l = nlayers - 1; l >= 0; l--) {
        int32_t nin = sizes[l], nout = sizes[l + 1];
        const double *w = params + offset[l];
        double *gw = grad + offset[l];
        if (l < nlayers - 1)              /* through the ReLU */
            for (int32_t k = 0; k < nout; k++) gout[k] = (double)(act[l + 1][k] > 0.0) * gout[k];
        for (int32_t i = 0; i < nin; i++) gin[i] = 0.0;
        for (int32_t k = nout - 1; k >= 0; k--) {
            const double *wk = w + (int64_t)k * (nin + 1);
            double *gk = gw + (int64_t)k * (nin + 1), g = gout[k];
            for (int32_t i = 0; i < nin; i++) gk[i] += act[l][i] * g;
            gk[nin] += g;
            if (l > 0)
                for (int32_t i = 0; i < nin; i++) gin[i] += wk[i] * g;
        }
        for (int32_t i = 0; i < nin; i++) gout[i] = gin[i];
    }
}

static int64_t count_params(int32_t nlayers, const int32_t *sizes) {
    int64_t n = 0;
    for (int32_t l = 0; l < nlayers; l++) n += (int64_t)sizes[l + 1] * (sizes[l] + 1);
    return n;
}

/* One step: returns the loss (mean hinge + alpha * L2) at the current
 * params, then updates them; grad is scratch of count_params doubles.
 * Returns NaN if the network does not fit the fixed-size scratch. */
double fl_train_step(int32_t nlayers, const int32_t *sizes, double *params, double *grad,
                     int64_t n, const double *X, const double *y, double alpha, double lr) {
    if (!fits(nlayers, sizes)) return NAN;
    int64_t np = count_params(nlayers, sizes);
    fl_acts act;
    double scale = 1.0 / (double)n, data_loss = 0.0;
    for (int64_t i = 0; i < np; i++) grad[i] = 0.0;
    for (int64_t r = 0; r < n; r++) {
        double score = forward_row(nlayers, sizes, params, X + r * sizes[0], act);
        double loss = hinge(score, y[r]);
        data_loss += loss;
        double gscore = (-y[r]) * ((double)(loss > 0.0) * scale);
        backward_row(nlayers, sizes, params, act, gscore, grad);
    }
    double sq = params[0] * params[0];
    for (int64_t i = 1; i < np; i++) sq = sq + params[i] * params[i];
    for (int64_t i = 0; i < np; i++) grad[i] = (grad[i] + params[i] * alpha) + params[i] * alpha;
    double total = data_loss * (1.0 / (double)n) + alpha * sq;
    for (int64_t i = 0; i < np; i++) params[i] = params[i] - lr * grad[i];
    return total;
}

/* Each row's loss (forward only), as Program.forward_batch gives it. */
int fl_forward_batch(int32_t nlayers, const int32_t *sizes, const double *params,
                     int64_t n, const double *X, const double *y, double *out) {
    if (!fits(nlayers, sizes)) return -1;
    fl_acts act;
    for (int64_t r = 0; r < n; r++)
        out[r] = hinge(forward_row(nlayers, sizes, params, X + r * sizes[0], act), y[r]);
    return 0;
}
