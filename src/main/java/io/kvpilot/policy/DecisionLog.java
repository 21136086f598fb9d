package io.kvpilot.policy;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** The last {@code capacity} decisions, newest first on read; a fixed ring, so it never grows. Thread-safe. */
public final class DecisionLog {

    /** A decision and when it was made. */
    public record Entry(Instant at, PolicyDecision decision) {}

    private final Entry[] ring;
    private long written;

    public DecisionLog(int capacity) {
        this.ring = new Entry[capacity];
    }

    public synchronized void add(PolicyDecision decision) {
        ring[(int) (written++ % ring.length)] = new Entry(Instant.now(), decision);
    }

    public synchronized List<Entry> newestFirst() {
        int n = (int) Math.min(written, ring.length);
        List<Entry> out = new ArrayList<>(n);
        for (int i = 1; i <= n; i++) {
            out.add(ring[(int) ((written - i) % ring.length)]);
        }
        return out;
    }

    public int capacity() {
        return ring.length;
    }
}
