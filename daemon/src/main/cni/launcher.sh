#!/bin/sh
# enilb-cni: the enilb CNI plugin. The plugin's jar is appended to this script, so this one file is
# the plugin wherever Java 17 is (JAVA_HOME, else PATH). Installed with its own runtime, the
# directory enilb-jre next to this file (jlink'ed: java.base and the plugin as a module, with a
# class-data archive of what a request loads), it needs no Java on the node and starts faster.
# The runtime starts this for every pod: no subshells or external commands on the way to exec.
case "$0" in */*) jre="${0%/*}/enilb-jre" ;; *) jre=/nonexistent ;; esac
# a run lasts milliseconds: interpreted only (compiling would cost more CPU than it saves, about
# a fifth of the run), serial GC, no perf-data file
opts="-Xint -XX:+UseSerialGC -Xss512k -XX:-UsePerfData"
if [ -x "$jre/bin/java" ]; then
    # its own security configuration: one provider, which spares the JDK's (see SocketNameRandomProvider)
    exec "$jre/bin/java" $opts -Xshare:auto "-Djava.security.properties==$jre/conf/security/enilb-cni.security" \
        -m io.enilb.cni/io.enilb.cni.plugin.EnilbCni "$@"
fi
if [ -n "$JAVA_HOME" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    java="$JAVA_HOME/bin/java"
elif command -v java >/dev/null 2>&1; then
    java=java
else
    printf '{"cniVersion":"1.1.0","code":999,"msg":"enilb-cni: no java found","details":"install enilb-jre next to the plugin (enilbctl cni install), or set JAVA_HOME or put java on PATH"}\n'
    exit 1
fi
exec "$java" $opts -Xshare:auto -jar "$0" "$@"
