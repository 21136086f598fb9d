package io.kvpilot.policy;

import io.kvpilot.telemetry.EngineStepSample;
import java.util.HashMap;
import java.util.Map;

/**
 * The controller's online model of an engine step's wall time, one per forward path ({@code java}, {@code libtorch}):
 * {@code seconds ≈ a + b·tokens + c·kvEntriesRead + d·sequences}, refitted after every step by recursive least squares
 * with a forgetting factor, so it follows the machine it runs on and the load it sees (a step's cost is the weights'
 * read, the tokens' products, and attention over the cached entries, each linear in its count).
 *
 * <p>Features are scaled to order one (tokens / 64, entries / 10⁴, sequences / 16) so the initial covariance suits all
 * four coefficients. The covariance is not inflated past {@link #MAX_TRACE} when samples stop exciting a direction
 * (a steady batch), the usual guard against forgetting-factor wind-up. Engine thread only, except
 * {@link #coefficients} which copies under the lock.
 */
public final class StepTimeModel {

    static final int FEATURES = 4;
    private static final double MAX_TRACE = 1e4;

    private final double forgetting;
    private final int minSamples;
    private final Map<String, Rls> paths = new HashMap<>();
    private final double[] x = new double[FEATURES]; // scratch, under the lock: a step allocates nothing here
    private final double[] px = new double[FEATURES];

    /**
     * @param forgetting the weight of the previous fit per new sample, in (0, 1]; 0.99 forgets with a horizon of ~100
     *     steps
     * @param minSamples samples of a path before it predicts anything (NaN until then)
     */
    public StepTimeModel(double forgetting, int minSamples) {
        if (!(forgetting > 0 && forgetting <= 1) || minSamples < FEATURES) {
            throw new IllegalArgumentException("forgetting must be in (0, 1] and minSamples >= " + FEATURES);
        }
        this.forgetting = forgetting;
        this.minSamples = minSamples;
    }

    /** Refits the sample's path on it; steps that ran nothing are ignored. */
    public synchronized void observe(EngineStepSample sample) {
        if (sample.tokens() <= 0 || !(sample.wallSeconds() > 0) || !Double.isFinite(sample.wallSeconds())) {
            return;
        }
        Rls rls = paths.get(sample.path());
        if (rls == null) {
            rls = new Rls();
            paths.put(sample.path(), rls);
        }
        rls.update(features(sample.tokens(), sample.kvEntriesRead(), sample.sequences()), sample.wallSeconds());
    }

    /** Predicted seconds of a step on {@code path}; NaN while the path has fewer than {@code minSamples} samples. */
    public synchronized double predict(String path, int tokens, long kvEntriesRead, int sequences) {
        Rls rls = paths.get(path);
        if (rls == null || rls.samples < minSamples) {
            return Double.NaN;
        }
        return Math.max(0.0, rls.dot(features(tokens, kvEntriesRead, sequences)));
    }

    /** The fitted {@code a, b, c, d} of {@code path} in unscaled units (per token, per entry, per sequence), or null. */
    public synchronized double[] coefficients(String path) {
        Rls rls = paths.get(path);
        if (rls == null) {
            return null;
        }
        double[] t = rls.theta;
        return new double[] {t[0], t[1] / 64.0, t[2] / 1e4, t[3] / 16.0};
    }

    public synchronized long samples(String path) {
        Rls rls = paths.get(path);
        return rls == null ? 0 : rls.samples;
    }

    private double[] features(int tokens, long entries, int sequences) {
        x[0] = 1.0;
        x[1] = tokens / 64.0;
        x[2] = entries / 1e4;
        x[3] = sequences / 16.0;
        return x;
    }

    /** One path's fit: coefficients θ and covariance P, updated in place (a 4×4 problem, no library needed). */
    private final class Rls {
        final double[] theta = new double[FEATURES];
        final double[][] p = new double[FEATURES][FEATURES];
        long samples;

        Rls() {
            for (int i = 0; i < FEATURES; i++) {
                p[i][i] = 100.0;
            }
        }

        double dot(double[] x) {
            double s = 0;
            for (int i = 0; i < FEATURES; i++) {
                s += theta[i] * x[i];
            }
            return s;
        }

        void update(double[] x, double y) {
            double denominator = forgetting;
            for (int i = 0; i < FEATURES; i++) {
                px[i] = 0;
                for (int j = 0; j < FEATURES; j++) {
                    px[i] += p[i][j] * x[j];
                }
                denominator += x[i] * px[i];
            }
            double error = y - dot(x);
            double trace = 0;
            for (int i = 0; i < FEATURES; i++) {
                trace += p[i][i];
            }
            double inflate = trace > MAX_TRACE ? 1.0 : 1.0 / forgetting;
            for (int i = 0; i < FEATURES; i++) {
                double gain = px[i] / denominator;
                theta[i] += gain * error;
            }
            for (int i = 0; i < FEATURES; i++) {
                for (int j = 0; j < FEATURES; j++) {
                    p[i][j] = (p[i][j] - px[i] * px[j] / denominator) * inflate; // P symmetric: (P x)(x^T P) = px px^T
                }
            }
            samples++;
        }
    }
}
