package io.kvpilot.api;

import java.util.Map;
import org.springframework.core.io.ClassPathResource;
import org.springframework.core.io.Resource;
import org.springframework.http.CacheControl;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * The KV inspector page: three static files from the jar ({@code classpath:inspector/}), mapped one by one so that
 * nothing else of the classpath is reachable. They hold no data and load without a key ({@link ApiKeyFilter}); the
 * page asks for an admin key and sends it to {@code POST /admin/kv/inspect}. A strict content security policy: the
 * page loads only its own script and style and talks only to this origin.
 */
@RestController
class InspectorPageController {

    static final String PAGE = "/inspector";

    private static final Map<String, MediaType> ASSETS = Map.of(
            "inspector.js", MediaType.parseMediaType("text/javascript;charset=UTF-8"),
            "inspector.css", MediaType.parseMediaType("text/css;charset=UTF-8"));

    private static final String POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; "
            + "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    @GetMapping(PAGE)
    ResponseEntity<Resource> page() {
        return asset("index.html", MediaType.parseMediaType("text/html;charset=UTF-8"));
    }

    @GetMapping(PAGE + "/{name}")
    ResponseEntity<Resource> asset(@PathVariable String name) {
        MediaType type = ASSETS.get(name);
        if (type == null) {
            throw ApiError.ofStatus(org.springframework.http.HttpStatus.NOT_FOUND, "No inspector asset '" + name + "'");
        }
        return asset(name, type);
    }

    private static ResponseEntity<Resource> asset(String name, MediaType type) {
        return ResponseEntity.ok().contentType(type).cacheControl(CacheControl.noCache())
                .header("Content-Security-Policy", POLICY).header("X-Content-Type-Options", "nosniff")
                .header("Referrer-Policy", "no-referrer")
                .body(new ClassPathResource("inspector/" + name));
    }
}
