package io.kvpilot.kvcache.lowrank;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The symmetric eigen-solver against matrices whose spectrum is known by construction. */
class EigenTest {

    /** A random orthogonal matrix (Gram-Schmidt of a Gaussian one), as rows. */
    static double[][] orthogonal(int n, Random rnd) {
        double[][] q = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                q[i][j] = rnd.nextGaussian();
            }
            for (int k = 0; k < i; k++) {
                double dot = 0;
                for (int j = 0; j < n; j++) {
                    dot += q[i][j] * q[k][j];
                }
                for (int j = 0; j < n; j++) {
                    q[i][j] -= dot * q[k][j];
                }
            }
            double norm = 0;
            for (int j = 0; j < n; j++) {
                norm += q[i][j] * q[i][j];
            }
            for (int j = 0; j < n; j++) {
                q[i][j] /= Math.sqrt(norm);
            }
        }
        return q;
    }

    /** sum_k lambda_k q_k q_k^T. */
    static double[][] compose(double[][] q, double[] lambda) {
        int n = lambda.length;
        double[][] a = new double[n][n];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    a[i][j] += lambda[k] * q[k][i] * q[k][j];
                }
            }
        }
        return a;
    }

    @Test
    void recoversTheTopEigenvectorsAndTheSpectrum() {
        for (int n : new int[] {1, 2, 7, 64, 128}) {
            Random rnd = new Random(n);
            double[][] q = orthogonal(n, rnd);
            double[] lambda = new double[n];
            for (int k = 0; k < n; k++) {
                lambda[k] = 100.0 / (k + 1) + 0.01 * k; // descending, distinct, like a key covariance's
            }
            double[][] a = compose(q, lambda);
            double[] found = Eigen.eigenvalues(a);
            Arrays.sort(found);
            double[] expected = lambda.clone();
            Arrays.sort(expected);
            for (int k = 0; k < n; k++) {
                assertThat(found[k]).as("n=%d eigenvalue %d", n, k).isCloseTo(expected[k], within(1e-9 * 100));
            }
            int r = Math.max(1, n / 4);
            double[][] top = Eigen.topEigenvectors(a, r);
            for (int k = 0; k < r; k++) {
                double dot = 0;
                for (int i = 0; i < n; i++) {
                    dot += top[k][i] * q[k][i];
                }
                assertThat(Math.abs(dot)).as("n=%d vector %d aligned with the k-th largest", n, k)
                        .isCloseTo(1.0, within(1e-9));
            }
        }
    }

    @Test
    void handlesRankDeficientAndRepeatedEigenvalues() {
        int n = 16;
        double[][] q = orthogonal(n, new Random(3));
        double[] lambda = new double[n];
        lambda[0] = 5;
        lambda[1] = 5; // a repeated top pair, then 14 zeros (a rank-2 covariance)
        double[][] top = Eigen.topEigenvectors(compose(q, lambda), 2);
        for (double[] u : top) {
            double inSpan = 0; // projection of u onto span(q0, q1) keeps its whole length
            for (int k = 0; k < 2; k++) {
                double dot = 0;
                for (int i = 0; i < n; i++) {
                    dot += u[i] * q[k][i];
                }
                inSpan += dot * dot;
            }
            assertThat(inSpan).isCloseTo(1.0, within(1e-9));
        }
        double dot = 0;
        for (int i = 0; i < n; i++) {
            dot += top[0][i] * top[1][i];
        }
        assertThat(dot).as("orthogonal").isCloseTo(0.0, within(1e-9));
    }

    @Test
    void aZeroMatrixGivesUnitVectors() {
        double[][] top = Eigen.topEigenvectors(new double[8][8], 3);
        for (double[] u : top) {
            double norm = 0;
            for (double x : u) {
                norm += x * x;
            }
            assertThat(norm).isCloseTo(1.0, within(1e-12));
        }
    }
}
