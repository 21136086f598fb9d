package io.kvpilot.telemetry;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.springframework.stereotype.Component;

/**
 * {@code process_resident_memory_bytes}: the serving process's resident set, read from {@code /proc/self/status}
 * at scrape time. The JVM's own meters see only heap and non-heap; libtorch, the model weights and the KV cache live
 * outside them, so this is the number to hold against a container's memory limit. NaN where there is no procfs.
 */
@Component
public class ProcessMemoryMetrics implements MeterBinder {

    private static final Path STATUS = Path.of("/proc/self/status");

    @Override
    public void bindTo(MeterRegistry registry) {
        Gauge.builder("process.resident.memory", ProcessMemoryMetrics::residentBytes).baseUnit("bytes")
                .description("Resident set size of the process (heap, native libraries, model weights, KV cache)")
                .register(registry);
    }

    static double residentBytes() {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith("VmRSS:")) {
                    // "VmRSS:   123456 kB"
                    String kilobytes = line.substring("VmRSS:".length()).trim().split("\\s+")[0];
                    return Long.parseLong(kilobytes) * 1024.0;
                }
            }
        } catch (IOException | RuntimeException unavailable) {
            return Double.NaN;
        }
        return Double.NaN;
    }
}
