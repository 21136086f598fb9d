package io.kvpilot.api;

import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * API keys ({@code KVPILOT_SECURITY_API_KEYS}) and admin keys ({@code KVPILOT_SECURITY_ADMIN_KEYS}), comma-separated.
 * With neither set the service runs open (development only) and says so at start-up. Admin keys also work as API
 * keys. {@code clientIdSecret} keys the HMAC that names callers in metrics; unset, a random one per process.
 * {@code cors} lets browser pages of the listed origins call the API (off while no origin is listed).
 */
@ConfigurationProperties("kvpilot.security")
record SecurityProperties(@DefaultValue List<String> apiKeys, @DefaultValue List<String> adminKeys,
        @DefaultValue("") String clientIdSecret, @DefaultValue Cors cors) {

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

    /**
     * Cross-origin access for browser clients. Keys still apply to every actual request; only a preflight
     * ({@code OPTIONS} with {@code Origin} and {@code Access-Control-Request-Method}) from an allowed origin is
     * answered without one, since browsers never send credentials on a preflight.
     *
     * @param allowedOrigins exact origins ({@code https://app.example.com}) or {@code *}; empty: CORS off
     * @param allowedMethods methods a page may use
     * @param allowedHeaders request headers a page may send ({@code *}: any)
     * @param exposedHeaders response headers a page may read
     * @param maxAge how long a browser may cache a preflight's answer
     */
    record Cors(@DefaultValue List<String> allowedOrigins,
            @DefaultValue({"GET", "POST"}) List<String> allowedMethods,
            @DefaultValue({"Authorization", "Content-Type", "x-request-id"}) List<String> allowedHeaders,
            @DefaultValue({"x-request-id", "Retry-After"}) List<String> exposedHeaders,
            @DefaultValue("30m") Duration maxAge) {

        Cors {
            allowedOrigins = clean(allowedOrigins);
            allowedMethods = clean(allowedMethods);
            allowedHeaders = clean(allowedHeaders);
            exposedHeaders = clean(exposedHeaders);
            if (maxAge == null || maxAge.isNegative()) {
                throw new IllegalArgumentException("kvpilot.security.cors.max-age must not be negative");
            }
        }

        /** The defaults, with {@code origins} allowed (none: off). */
        static Cors allowing(String... origins) {
            return new Cors(List.of(origins), List.of("GET", "POST"), List.of("Authorization", "Content-Type",
                    "x-request-id"), List.of("x-request-id", "Retry-After"), Duration.ofMinutes(30));
        }

        boolean enabled() {
            return !allowedOrigins.isEmpty();
        }
    }
}
