package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashSet;
import java.util.Set;
import org.springframework.context.ApplicationContext;
import org.springframework.web.bind.annotation.RequestMethod;
import org.springframework.web.reactive.function.server.support.RouterFunctionMapping;
import org.springframework.web.reactive.result.method.RequestMappingInfo;
import org.springframework.web.reactive.result.method.RequestMappingInfoHandlerMapping;
import org.springframework.web.util.pattern.PathPattern;

/**
 * Every method and path pattern the router maps, read from its own mappings (controllers and actuator endpoints), so a
 * test over them covers a new endpoint without being edited.
 */
final class MappedRoutes {

    /** One mapped method and path pattern; a mapping without methods answers every method and is listed as GET. */
    record Mapping(String method, PathPattern pattern) {}

    private MappedRoutes() {}

    static Set<Mapping> of(ApplicationContext context) {
        for (RouterFunctionMapping functional : context.getBeansOfType(RouterFunctionMapping.class).values()) {
            assertThat(functional.getRouterFunction())
                    .as("functional routes are not read by MappedRoutes yet: extend it").isNull();
        }
        Set<Mapping> mappings = new LinkedHashSet<>();
        for (RequestMappingInfoHandlerMapping mapping
                : context.getBeansOfType(RequestMappingInfoHandlerMapping.class).values()) {
            for (RequestMappingInfo info : mapping.getHandlerMethods().keySet()) {
                Set<RequestMethod> methods = info.getMethodsCondition().getMethods();
                for (PathPattern pattern : info.getPatternsCondition().getPatterns()) {
                    for (RequestMethod method : methods.isEmpty() ? Set.of(RequestMethod.GET) : methods) {
                        mappings.add(new Mapping(method.name(), pattern));
                    }
                }
            }
        }
        return mappings;
    }
}
