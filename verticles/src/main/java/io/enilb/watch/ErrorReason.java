package io.enilb.watch;

/** How the sources put a failure into one line: an operator reads it in a log line and in /readyz. */
final class ErrorReason {
    private ErrorReason() {
    }

    /** The first line of the innermost useful message: an operator reads it in a log line and in /readyz. */
    static String of(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t
                && (t.getMessage() == null || t.getMessage().equals(t.getCause().toString()))) {
            t = t.getCause();
        }
        String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        // YAML parsers quote the offending line and underline it with '^'; keep only the prose
        message = message.lines()
                .filter(line -> !line.isBlank() && !line.startsWith("    ") && !line.trim().equals("^"))
                .map(String::trim)
                .collect(java.util.stream.Collectors.joining(" "));
        message = message.endsWith(":") ? message.substring(0, message.length() - 1) : message;
        return message.length() > 300 ? message.substring(0, 300) + "…" : message;
    }
}
