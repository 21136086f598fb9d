package io.kvpilot.api;

import java.util.function.BooleanSupplier;

/** Polls a condition for at most 20 s; fails the test past that. */
final class TestWaits {

    private TestWaits() {}

    static void until(BooleanSupplier condition) {
        until(condition, () -> "");
    }

    /** As {@link #until(BooleanSupplier)}, naming the state seen last when it fails. */
    static void until(BooleanSupplier condition, java.util.function.Supplier<String> state) {
        long until = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                throw new AssertionError("condition not met within 20 s " + state.get());
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }
}
