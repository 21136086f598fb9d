package io.kvpilot.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.withinPercentage;

import org.junit.jupiter.api.Test;

/** The log-linear bins and the per-second ring under the windows. */
class SecondWindowsTest {

    @Test
    void everyValueInRangeLiesInItsBinWithinOneThirtySecond() {
        for (double v = 1e-5; v < 4000; v *= 1.0137) {
            double middle = SecondWindows.representative(SecondWindows.bin(v));
            assertThat(middle).as("%s", v).isCloseTo(v, withinPercentage(100.0 / 32));
        }
    }

    @Test
    void binEdgesArePowersOfTwoSplitInSixteen() {
        assertThat(SecondWindows.bin(1.0)).isEqualTo(SecondWindows.bin(1.0624)).isNotEqualTo(SecondWindows.bin(1.0625));
        assertThat(SecondWindows.bin(1.0625)).isEqualTo(SecondWindows.bin(1.0) + 1);
        assertThat(SecondWindows.bin(2.0)).isEqualTo(SecondWindows.bin(1.0) + 16);
    }

    @Test
    void outOfRangeValuesFallInTheEndBins() {
        assertThat(SecondWindows.bin(0.0)).isZero();
        assertThat(SecondWindows.bin(-1.0)).isZero();
        assertThat(SecondWindows.representative(0)).isZero();
        assertThat(SecondWindows.bin(1e6)).isEqualTo(SecondWindows.BINS - 1);
        assertThat(SecondWindows.representative(SecondWindows.BINS - 1)).isEqualTo(4096.0);
    }

    @Test
    void aLateObservationJoinsTheCurrentSecond() {
        SecondWindows w = new SecondWindows(1, 1);
        w.observe(20, 0, 1.0);
        w.observe(15, 0, 1.0); // the clock read before a step, recorded after a later one
        w.add(15, 0, 7);

        w.advance(29);
        assertThat(w.count(true, 0)).isEqualTo(2);
        assertThat(w.total(true, 0)).isEqualTo(7);
        w.advance(30);
        assertThat(w.count(true, 0)).isZero();
        assertThat(w.total(true, 0)).isZero();
        assertThat(w.count(false, 0)).isEqualTo(2);
    }

    @Test
    void quantileIsNearestRank() {
        SecondWindows w = new SecondWindows(1, 0);
        for (int i = 0; i < 99; i++) {
            w.observe(0, 0, 0.001);
        }
        w.observe(0, 0, 1.0);

        assertThat(w.quantile(true, 0, 0.99)).isCloseTo(0.001, withinPercentage(3.2));
        assertThat(w.quantile(true, 0, 0.999)).isCloseTo(1.0, withinPercentage(3.2));
        assertThat(w.quantile(true, 0, 0.0)).isCloseTo(0.001, withinPercentage(3.2));
    }
}
