#!/bin/sh
# enilb-cni: the enilb CNI plugin. The plugin's jar is appended to this script, so this one file is
# the plugin wherever Java 17 is (JAVA_HOME, else PATH). Installed with its own runtime, the
# directory enilb-jre next to this file (jlink'ed: java.base and the plugin as a module, its JVM
# options built in, with a class-data archive of what an ADD loads), it needs no Java on the node
# and starts faster.
# The runtime starts this for every pod: no subshells or external commands on the way to exec.
case "$0" in */*) jre="${0%/*}/enilb-jre" ;; *) jre=/nonexistent ;; esac
if [ -x "$jre/bin/java" ]; then
    # the module is a root of the runtime's boot layer: the main class by name, no -m
    exec "$jre/bin/java" io.enilb.cni.plugin.EnilbCni "$@"
fi
# a run lasts milliseconds: interpreted only (compiling would cost more CPU than it saves, about
# a fifth of the run), serial GC, no perf-data file
opts="-Xint -XX:+UseSerialGC -Xss512k -XX:-UsePerfData"
if [ -n "$JAVA_HOME" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    java="$JAVA_HOME/bin/java"
elif command -v java >/dev/null 2>&1; then
    java=java
else
    printf '{"cniVersion":"1.1.0","code":999,"msg":"enilb-cni: no java found","details":"install enilb-jre next to the plugin (enilbctl cni install), or set JAVA_HOME or put java on PATH"}\n'
    exit 1
fi
exec "$java" $opts -Xshare:auto -jar "$0" "$@"
