package io.kvpilot.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.telemetry.EngineStepSample;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StepTimeModelTest {

    private static final double[] TRUE = {0.004, 0.0005, 2e-7, 0.0003}; // a, per token, per entry, per sequence

    private static double stepSeconds(double[] c, int tokens, long entries, int sequences) {
        return c[0] + c[1] * tokens + c[2] * entries + c[3] * sequences;
    }

    private static EngineStepSample sample(Random random, double[] c, double noise, String path) {
        int sequences = 1 + random.nextInt(16);
        int tokens = sequences + random.nextInt(48);
        long entries = (long) sequences * (50 + random.nextInt(1500));
        double y = stepSeconds(c, tokens, entries, sequences) * (1 + noise * random.nextGaussian());
        return new EngineStepSample(y, tokens, sequences, entries, path, "test");
    }

    @Test
    void recoversTheCoefficientsOfSyntheticSteps() {
        StepTimeModel model = new StepTimeModel(0.995, 20);
        Random random = new Random(7);
        for (int i = 0; i < 2000; i++) {
            model.observe(sample(random, TRUE, 0.0, "java"));
        }
        double[] fitted = model.coefficients("java");
        for (int i = 0; i < 4; i++) {
            assertThat(fitted[i]).as("coefficient %d", i).isCloseTo(TRUE[i], within(Math.abs(TRUE[i]) * 0.01));
        }
        assertThat(model.predict("java", 33, 12_000, 16)).isCloseTo(stepSeconds(TRUE, 33, 12_000, 16),
                within(1e-5));
    }

    @Test
    void predictsWithinTheNoiseOnNoisySteps() {
        StepTimeModel model = new StepTimeModel(0.99, 20);
        Random random = new Random(11);
        for (int i = 0; i < 3000; i++) {
            model.observe(sample(random, TRUE, 0.05, "java"));
        }
        double worst = 0;
        for (int i = 0; i < 200; i++) {
            EngineStepSample s = sample(random, TRUE, 0.0, "java");
            double predicted = model.predict("java", s.tokens(), s.kvEntriesRead(), s.sequences());
            worst = Math.max(worst, Math.abs(predicted - s.wallSeconds()) / s.wallSeconds());
        }
        assertThat(worst).isLessThan(0.05);
    }

    @Test
    void followsAMachineThatGetsSlower() {
        StepTimeModel model = new StepTimeModel(0.98, 20);
        Random random = new Random(3);
        for (int i = 0; i < 1000; i++) {
            model.observe(sample(random, TRUE, 0.0, "java"));
        }
        double[] slower = {TRUE[0] * 2, TRUE[1] * 2, TRUE[2] * 2, TRUE[3] * 2};
        for (int i = 0; i < 400; i++) {
            model.observe(sample(random, slower, 0.0, "java"));
        }
        assertThat(model.predict("java", 20, 8000, 8)).isCloseTo(stepSeconds(slower, 20, 8000, 8),
                within(stepSeconds(slower, 20, 8000, 8) * 0.02));
    }

    @Test
    void pathsAreFittedApartAndUnknownUntilWarm() {
        StepTimeModel model = new StepTimeModel(0.99, 20);
        Random random = new Random(5);
        double[] libtorch = {0.02, 0.001, 1e-6, 0.001};
        for (int i = 0; i < 19; i++) {
            model.observe(sample(random, TRUE, 0.0, "java"));
        }
        assertThat(model.predict("java", 10, 1000, 4)).isNaN();
        for (int i = 0; i < 1000; i++) {
            model.observe(sample(random, TRUE, 0.0, "java"));
            model.observe(sample(random, libtorch, 0.0, "libtorch"));
        }
        assertThat(model.predict("java", 10, 1000, 4)).isCloseTo(stepSeconds(TRUE, 10, 1000, 4), within(1e-5));
        assertThat(model.predict("libtorch", 10, 1000, 4)).isCloseTo(stepSeconds(libtorch, 10, 1000, 4),
                within(1e-4));
        assertThat(model.predict("none", 10, 1000, 4)).isNaN();
    }

    @Test
    void ignoresEmptyAndBrokenSamples() {
        StepTimeModel model = new StepTimeModel(0.99, 4);
        model.observe(EngineStepSample.NONE);
        model.observe(new EngineStepSample(Double.NaN, 3, 1, 10, "java", "x"));
        assertThat(model.samples("java")).isZero();
    }
}
