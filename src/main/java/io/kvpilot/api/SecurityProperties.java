package io.kvpilot.api;

import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * API keys ({@code KVPILOT_SECURITY_API_KEYS}) and admin keys ({@code KVPILOT_SECURITY_ADMIN_KEYS}), comma-separated.
 * With neither set the service runs open (development only) and says so at start-up. Admin keys also work as API
 * keys. {@code clientIdSecret} keys the HMAC that names callers in metrics; unset, a random one per process.
 */
@ConfigurationProperties("kvpilot.security")
record SecurityProperties(@DefaultValue List<String> apiKeys, @DefaultValue List<String> adminKeys,
        @DefaultValue("") String clientIdSecret) {

    SecurityProperties {
        apiKeys = clean(apiKeys);
        adminKeys = clean(adminKeys);
        clientIdSecret = clientIdSecret == null ? "" : clientIdSecret.trim();
    }

    private static List<String> clean(List<String> keys) {
        return keys == null ? List.of() : keys.stream().map(String::trim).filter(k -> !k.isEmpty()).toList();
    }

    boolean isOpen() {
        return apiKeys.isEmpty() && adminKeys.isEmpty();
    }
}
