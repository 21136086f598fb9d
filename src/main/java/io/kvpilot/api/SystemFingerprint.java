package io.kvpilot.api;

import io.kvpilot.engine.ModelInfo;
import io.kvpilot.policy.PolicyProperties;
import io.kvpilot.serving.ServingProperties;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.springframework.stereotype.Component;

/**
 * {@code system_fingerprint}: {@code fp_} and 12 hex digits of SHA-256 over what decides the answers one request
 * gets besides its own parameters: the model (id, architecture, shape), the build's version, the default compression
 * ({@code kvpilot.kv.auto-*}, the decode re-scoring interval, whether the controller decides {@code auto}) and the
 * batch limits (batched steps sum in another order). The same for every request of one process; a change to any of
 * these changes it, so a client can tell that two answers may differ for a reason other than sampling.
 */
@Component
class SystemFingerprint {

    private final String settings;
    private volatile String fingerprint; // of the loaded model, computed at the first answer

    SystemFingerprint(ServingProperties serving, PolicyProperties policy) {
        ServingProperties.Kv kv = serving.kv();
        String version = SystemFingerprint.class.getPackage().getImplementationVersion();
        settings = "build=" + (version == null ? "dev" : version) + ";auto=" + kv.autoMethod() + "/" + kv.autoRatio()
                + "/" + kv.autoBits() + ";decode-interval=" + kv.decodeCompressionInterval() + ";policy="
                + policy.enabled() + ";running=" + serving.scheduler().maxRunningSequences() + ";batched-tokens="
                + serving.scheduler().maxBatchedTokens();
    }

    String of(ModelInfo model) {
        String f = fingerprint;
        if (f == null) {
            f = "fp_" + HexFormat.of().formatHex(sha256(model + ";" + settings), 0, 6);
            fingerprint = f;
        }
        return f;
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
