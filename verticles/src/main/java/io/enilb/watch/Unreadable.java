package io.enilb.watch;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.Objects;

/**
 * An object from the API whose identity could be read but some field enilb uses could not (a
 * number where an object belongs, a string for a port...). The lean readers ({@link LeanReader})
 * return one instead of failing the whole list or watch the object came in: the informer then
 * goes on with every other object, and the source keeps this object's last readable version and
 * reports the problem (see {@link KubernetesSource}). It holds the object's metadata (identity and
 * resourceVersion) only.
 */
interface Unreadable {
    /** What could not be read, with the field's JSON pointer inside the object. */
    String problem();

    /** The problem of an object the lean readers could not read, or null for any other object. */
    static String problemOf(HasMetadata object) {
        return object instanceof Unreadable unreadable ? unreadable.problem() : null;
    }

    /** A Service that could not be read. */
    final class UnreadableService extends Service implements Unreadable {
        private final String problem;

        UnreadableService(ObjectMeta metadata, String problem) {
            setMetadata(metadata);
            this.problem = Objects.requireNonNull(problem, "problem");
        }

        @Override
        public String problem() {
            return problem;
        }
    }

    /** An EndpointSlice that could not be read. */
    final class UnreadableSlice extends EndpointSlice implements Unreadable {
        private final String problem;

        UnreadableSlice(ObjectMeta metadata, String problem) {
            setMetadata(metadata);
            this.problem = Objects.requireNonNull(problem, "problem");
        }

        @Override
        public String problem() {
            return problem;
        }
    }
}
