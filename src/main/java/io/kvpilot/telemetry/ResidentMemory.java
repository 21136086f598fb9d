package io.kvpilot.telemetry;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.LongSupplier;

/**
 * The process's resident set size from {@code /proc/self/status} ({@code VmRSS}), read at most once per second:
 * RSS covers what the JVM's own memory metrics miss (libtorch's tensors, the KV cache, the packed weights).
 * Thread-safe; 0 where the file does not exist or has no {@code VmRSS} line (not Linux).
 */
public final class ResidentMemory {

    static final long SAMPLE_NANOS = 1_000_000_000L;

    private final Path status;
    private final LongSupplier nanoClock;
    private volatile long bytes;
    private volatile long readAtNanos;
    private volatile boolean read;

    ResidentMemory(Path status, LongSupplier nanoClock) {
        this.status = status;
        this.nanoClock = nanoClock;
    }

    /** This process's RSS, sampled on {@code nanoClock}. */
    public static ResidentMemory ofThisProcess(LongSupplier nanoClock) {
        return new ResidentMemory(Path.of("/proc/self/status"), nanoClock);
    }

    /** Bytes resident as of the last read, re-read when that was a second ago or more. */
    public long bytes() {
        long now = nanoClock.getAsLong();
        if (!read || now - readAtNanos >= SAMPLE_NANOS) {
            bytes = readNow();
            readAtNanos = now;
            read = true;
        }
        return bytes;
    }

    private long readNow() {
        try {
            return parseVmRss(Files.readString(status, StandardCharsets.US_ASCII));
        } catch (IOException | RuntimeException e) {
            return 0L;
        }
    }

    /** {@code VmRSS:   123456 kB} in bytes; 0 without such a line. */
    static long parseVmRss(String statusText) {
        int at = statusText.indexOf("VmRSS:");
        if (at < 0) {
            return 0L;
        }
        int end = statusText.indexOf('\n', at);
        String[] fields = statusText.substring(at + "VmRSS:".length(), end < 0 ? statusText.length() : end)
                .trim().split("\\s+");
        long value = Long.parseLong(fields[0]);
        return fields.length > 1 && fields[1].equalsIgnoreCase("kB") ? value * 1024 : value;
    }
}
