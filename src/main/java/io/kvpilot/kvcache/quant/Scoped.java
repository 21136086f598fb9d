package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.function.Function;

/**
 * Runs one computation over held arrays in a throw-away manager: every op's result lands there (an op's result belongs
 * to its first operand's manager, see docs/djl-notes.md "manager-ownership leak trap"), the held arrays go back to their owner,
 * and only the result survives, in {@code resultOwner}.
 */
public final class Scoped {

    private Scoped() {}

    public static NDArray run(NDManager resultOwner, Function<NDManager, NDArray> body, NDArray... held) {
        try (NDManager scope = resultOwner.newSubManager()) {
            for (NDArray a : held) {
                if (a != null) {
                    a.tempAttach(scope);
                }
            }
            NDArray out = body.apply(scope);
            out.attach(resultOwner);
            return out;
        }
    }
}
