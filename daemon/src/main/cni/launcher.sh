#!/bin/sh
# enilb-cni: the enilb CNI plugin. The plugin's jar is appended to this script, so this one file
# is the whole plugin. Java is taken from JAVA_HOME, else from PATH.
if [ -n "$JAVA_HOME" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    java="$JAVA_HOME/bin/java"
elif command -v java >/dev/null 2>&1; then
    java=java
else
    printf '{"cniVersion":"1.1.0","code":999,"msg":"enilb-cni: no java found","details":"set JAVA_HOME or put java on PATH"}\n'
    exit 1
fi
exec "$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Xss512k -XX:-UsePerfData -jar "$0" "$@"
