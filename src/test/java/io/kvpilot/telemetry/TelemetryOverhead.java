package io.kvpilot.telemetry;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * What recording costs the engine thread: ns per recorded step (sample, window, the three step meters on a
 * Prometheus registry; {@code --no-meters}: without them), per live-state record, and per snapshot with one SLO
 * class. A measurement to run by hand
 * (the command is in docs/metrics.md), not a test: timings on a shared machine are not pass/fail material.
 */
public final class TelemetryOverhead {

    private TelemetryOverhead() {}

    public static void main(String[] args) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Telemetry telemetry = new Telemetry(System::nanoTime, ResidentMemory.ofThisProcess(System::nanoTime));
        if (args.length == 0 || !args[0].equals("--no-meters")) {
            telemetry.bindTo(registry);
        }
        telemetry.recordFirstToken(Telemetry.DEFAULT_SLO_CLASS, 0.2);
        long sink = 0;
        for (int round = 0; round < 6; round++) {
            int n = 2_000_000;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                telemetry.recordStep(0.004 + (i & 7) * 1e-4, 16, 16, 4_000 + i % 100, "java", "dense");
            }
            long t1 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                telemetry.recordLive(16, 3, t1 - i, 1_000_000, 2_000_000, 4_000_000);
            }
            long t2 = System.nanoTime();
            int snapshots = 20_000;
            for (int i = 0; i < snapshots; i++) {
                sink += telemetry.snapshot().runningSequences();
            }
            long t3 = System.nanoTime();
            System.out.printf("round %d: recordStep %.0f ns, recordLive %.0f ns, snapshot %.2f us%n", round,
                    (double) (t1 - t0) / n, (double) (t2 - t1) / n, (t3 - t2) / 1e3 / snapshots);
        }
        System.out.println(sink > 0 ? "" : "-");
    }
}
