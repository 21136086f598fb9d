package io.kvpilot.telemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.assertj.core.api.Assertions.withinPercentage;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Windowed latency, rates and step time on an injected clock, and the snapshot's immutability and threading. */
class TelemetryTest {

    private static final long SECOND = 1_000_000_000L;

    private final AtomicLong clock = new AtomicLong(SECOND / 2);
    private final Telemetry telemetry = new Telemetry(clock::get, new ResidentMemory(
            java.nio.file.Path.of("/nonexistent/status"), clock::get));

    /** The middle of the 1/16-octave bin holding {@code value}: 2^e (1 + (sub + 0.5) / 16). */
    private static double binMiddle(int exponent, int sub) {
        return Math.scalb(1.0 + (sub + 0.5) / 16, exponent);
    }

    @Test
    void ttftQuantilesOverTheShortWindowAreTheNearestRankBinMiddles() {
        for (int i = 1; i <= 10; i++) {
            telemetry.recordFirstToken("interactive", i / 10.0);
        }

        LatencyWindow w = telemetry.snapshot().shortWindow().get("interactive");

        // p50: rank 5 of 10 is 0.5 = 2^-1 x 1.0; p99: rank 10 is 1.0 = 2^0 x 1.0
        assertThat(w.ttftP50Seconds()).isEqualTo(binMiddle(-1, 0)).isEqualTo(0.515625);
        assertThat(w.ttftP99Seconds()).isEqualTo(binMiddle(0, 0)).isEqualTo(1.03125);
        assertThat(w.ttftP50Seconds()).isCloseTo(0.5, withinPercentage(3.2));
        assertThat(w.windowSeconds()).isEqualTo(10.0);
    }

    @Test
    void tpotRequestsAndTokenRateComeFromFinishedRequests() {
        telemetry.recordFinished("interactive", 0.020, 100);
        telemetry.recordFinished("interactive", 0.040, 100);
        telemetry.recordFinished("interactive", Double.NaN, 1); // one token: no TPOT

        TelemetrySnapshot s = telemetry.snapshot();

        LatencyWindow shortWindow = s.shortWindow().get("interactive");
        assertThat(shortWindow.requests()).isEqualTo(3);
        assertThat(shortWindow.tokensPerSecond()).isEqualTo(201 / 10.0);
        assertThat(s.longWindow().get("interactive").tokensPerSecond()).isEqualTo(201 / 60.0);
        // 0.020 = 2^-6 x 1.28 (sub-bin 4); 0.040 = 2^-5 x 1.28; p50 is rank 1 of 2, p99 rank 2
        assertThat(shortWindow.tpotP50Seconds()).isEqualTo(binMiddle(-6, 4)).isEqualTo(0.02001953125);
        assertThat(shortWindow.tpotP99Seconds()).isEqualTo(binMiddle(-5, 4));
        assertThat(shortWindow.ttftP50Seconds()).as("no first token recorded").isNaN();
    }

    @Test
    void observationsLeaveTheShortWindowAfterTenSecondsAndTheLongAfterSixty() {
        telemetry.recordFirstToken("interactive", 0.25);
        telemetry.recordFinished("interactive", 0.01, 10);

        clock.addAndGet(9 * SECOND); // second 9: still within the last 10
        assertThat(telemetry.snapshot().shortWindow().get("interactive").requests()).isEqualTo(1);

        clock.addAndGet(SECOND); // second 10
        TelemetrySnapshot afterTen = telemetry.snapshot();
        assertThat(afterTen.shortWindow().get("interactive").requests()).isZero();
        assertThat(afterTen.shortWindow().get("interactive").ttftP50Seconds()).isNaN();
        assertThat(afterTen.longWindow().get("interactive").requests()).isEqualTo(1);
        assertThat(afterTen.longWindow().get("interactive").ttftP50Seconds()).isEqualTo(binMiddle(-2, 0));

        clock.addAndGet(49 * SECOND); // second 59
        assertThat(telemetry.snapshot().longWindow().get("interactive").requests()).isEqualTo(1);
        clock.addAndGet(SECOND); // second 60
        assertThat(telemetry.snapshot().longWindow().get("interactive").requests()).isZero();
        assertThat(telemetry.snapshot().longWindow().get("interactive").tokensPerSecond()).isZero();
    }

    @Test
    void windowsRecoverAfterAnIdleGapLongerThanTheLongWindow() {
        telemetry.recordFinished("interactive", 0.01, 10);
        clock.addAndGet(500 * SECOND);
        telemetry.recordFinished("interactive", 0.03, 30);

        LatencyWindow w = telemetry.snapshot().longWindow().get("interactive");
        assertThat(w.requests()).isEqualTo(1);
        assertThat(w.tpotP50Seconds()).isCloseTo(0.03, withinPercentage(3.2));
    }

    @Test
    void sloClassesAreKeptApart() {
        telemetry.recordFirstToken("interactive", 0.1);
        telemetry.recordFirstToken("batch", 8.0);

        TelemetrySnapshot s = telemetry.snapshot();

        assertThat(s.shortWindow()).containsOnlyKeys("interactive", "batch");
        assertThat(s.shortWindow().get("batch").ttftP50Seconds()).isEqualTo(binMiddle(3, 0));
        assertThat(s.shortWindow().get("interactive").ttftP50Seconds()).isCloseTo(0.1, withinPercentage(3.2));
    }

    @Test
    void manyClassesFoldIntoOther() {
        for (int i = 0; i < 20; i++) {
            telemetry.recordFinished("class-" + i, 0.01, 1);
        }

        TelemetrySnapshot s = telemetry.snapshot();

        assertThat(s.shortWindow()).hasSize(Telemetry.MAX_CLASSES).containsKey(Telemetry.OTHER_CLASS);
        assertThat(s.shortWindow().get(Telemetry.OTHER_CLASS).requests()).isEqualTo(20 - (Telemetry.MAX_CLASSES - 1));
    }

    @Test
    void stepTimeMedianLastStepAndLiveState() {
        telemetry.recordStep(0.010, 16, 4, 400, "java", "dense");
        telemetry.recordStep(0.010, 16, 4, 420, "java", "dense");
        telemetry.recordStep(0.010, 16, 4, 440, "java", "dense");
        telemetry.recordStep(0.200, 300, 1, 45_150, "libtorch", "long_prompt");
        telemetry.recordStep(0.200, 300, 1, 45_150, "libtorch", "long_prompt");
        telemetry.recordLive(5, 3, clock.get() - 2 * SECOND, 1_000, 4_000, 10_000);
        clock.addAndGet(SECOND / 4);

        TelemetrySnapshot s = telemetry.snapshot();

        // 0.010 = 2^-7 x 1.28: sub-bin 4; rank 3 of 5
        assertThat(s.stepSecondsP50()).isEqualTo(binMiddle(-7, 4)).isEqualTo(0.010009765625);
        assertThat(s.lastStep()).isEqualTo(new EngineStepSample(0.200, 300, 1, 45_150, "libtorch", "long_prompt"));
        assertThat(s.runningSequences()).isEqualTo(5);
        assertThat(s.waitingRequests()).isEqualTo(3);
        assertThat(s.oldestWaitSeconds()).isCloseTo(2.25, within(1e-9));
        assertThat(s.kvUsedBytes()).isEqualTo(1_000);
        assertThat(s.kvReservedBytes()).isEqualTo(4_000);
        assertThat(s.kvBudgetBytes()).isEqualTo(10_000);
        assertThat(s.kvFreeBytes()).isEqualTo(6_000);
        assertThat(s.kvPressure()).isEqualTo(0.4);
        assertThat(s.rssBytes()).as("no status file").isZero();
        assertThat(s.takenAtNanos()).isEqualTo(clock.get());
    }

    @Test
    void beforeAnyStepTheSnapshotIsEmpty() {
        TelemetrySnapshot s = telemetry.snapshot();

        assertThat(s.lastStep()).isEqualTo(EngineStepSample.NONE);
        assertThat(s.stepSecondsP50()).isNaN();
        assertThat(s.shortWindow()).isEmpty();
        assertThat(s.oldestWaitSeconds()).isZero();
    }

    @Test
    void aSnapshotNeverChangesAndItsMapsCannotBeChanged() {
        telemetry.recordFirstToken("interactive", 0.5);
        telemetry.recordLive(1, 0, Telemetry.NONE_WAITING, 10, 20, 100);
        TelemetrySnapshot before = telemetry.snapshot();
        LatencyWindow window = before.shortWindow().get("interactive");

        telemetry.recordFirstToken("interactive", 4.0);
        telemetry.recordFirstToken("batch", 4.0);
        telemetry.recordStep(0.5, 1, 1, 1, "java", "dense");
        telemetry.recordLive(9, 9, 0, 90, 90, 100);

        assertThat(before.shortWindow()).containsOnlyKeys("interactive");
        assertThat(before.shortWindow().get("interactive")).isEqualTo(window);
        assertThat(before.runningSequences()).isEqualTo(1);
        assertThat(before.lastStep()).isEqualTo(EngineStepSample.NONE);
        assertThatThrownBy(() -> before.shortWindow().put("x", LatencyWindow.empty(10)))
                .isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> before.longWindow().clear()).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void anotherThreadGetsTheLastPublishedSnapshotWithoutTouchingTheWindows() throws Exception {
        telemetry.recordFirstToken("interactive", 0.5);
        TelemetrySnapshot published = telemetry.snapshot();
        telemetry.recordFirstToken("interactive", 4.0); // not yet published

        TelemetrySnapshot seenElsewhere = CompletableFuture.supplyAsync(telemetry::snapshot).get();

        assertThat(seenElsewhere).isSameAs(published);
    }

    @Test
    void liveStateIsPublishedForOtherThreadsAtMostEveryHundredMilliseconds() throws Exception {
        telemetry.recordLive(1, 0, Telemetry.NONE_WAITING, 0, 0, 100);
        clock.addAndGet(Telemetry.PUBLISH_MILLIS * 1_000_000);
        telemetry.recordLive(2, 0, Telemetry.NONE_WAITING, 0, 0, 100);
        telemetry.recordLive(3, 0, Telemetry.NONE_WAITING, 0, 0, 100); // within the interval: not published

        TelemetrySnapshot seenElsewhere = CompletableFuture.supplyAsync(telemetry::snapshot).get();

        assertThat(seenElsewhere.runningSequences()).isEqualTo(2);
    }

    @Test
    void stepsAreExportedByPathAndReason() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        telemetry.bindTo(registry);
        telemetry.recordStep(0.004, 16, 4, 400, "java", "dense");
        telemetry.recordStep(0.300, 300, 1, 45_150, "libtorch", "long_prompt");
        telemetry.recordStep(0.100, 2, 2, 90, "libtorch", "quantized_store");
        telemetry.recordLive(0, 2, clock.get() - SECOND, 0, 7_000, 10_000);

        assertThat(registry.get("kvpilot.engine.step").tag("path", "java").timer().count()).isEqualTo(1);
        assertThat(registry.get("kvpilot.engine.step").tag("path", "libtorch").timer().count()).isEqualTo(2);
        assertThat(registry.get("kvpilot.engine.steps").tags("path", "libtorch", "reason", "long_prompt").counter()
                .count()).isEqualTo(1.0);
        assertThat(registry.get("kvpilot.engine.step.tokens").summary().totalAmount()).isEqualTo(318.0);
        assertThat(registry.get("kvpilot.kv.cache.reserved.bytes").gauge().value()).isEqualTo(7_000.0);
        assertThat(registry.get("kvpilot.request.queue.oldest.wait").timeGauge()
                .value(java.util.concurrent.TimeUnit.SECONDS))
                .isCloseTo(1.0, within(1e-9));
    }
}
