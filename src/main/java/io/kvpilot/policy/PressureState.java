package io.kvpilot.policy;

/**
 * Whether the controller is compressing to make room: it enters when the projected KV use (reserved plus the queue,
 * over the budget) reaches {@code enter} or the queue's oldest request nears its TTFT objective, and leaves only when
 * the projection is back under {@code exit}. Two levels, so a pool hovering around one of them does not switch every
 * request. Engine thread only.
 */
final class PressureState {

    private final double enter;
    private final double exit;
    private boolean pressured;

    PressureState(double enter, double exit) {
        this.enter = enter;
        this.exit = exit;
    }

    /** Updates the state from the live reading and returns it. */
    boolean update(double projectedUse, boolean queueNearObjective) {
        if (!pressured && (projectedUse >= enter || queueNearObjective)) {
            pressured = true;
        } else if (pressured && projectedUse <= exit && !queueNearObjective) {
            pressured = false;
        }
        return pressured;
    }
}
