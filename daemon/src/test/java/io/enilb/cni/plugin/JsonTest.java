package io.enilb.cni.plugin;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class JsonTest {

    @Test
    void readsEveryKindOfValue() throws Exception {
        Object parsed = Json.parse(" {\"s\":\"x\",\"n\":-1.5e3,\"i\":0,\"t\":true,\"f\":false,\"z\":null,"
                + "\"a\":[1,{\"b\":[]}],\"o\":{}} ");

        assertThat(parsed).isInstanceOf(Map.class);
        Map<?, ?> map = (Map<?, ?>) parsed;
        assertThat(new java.util.ArrayList<Object>(map.keySet())).containsExactly("s", "n", "i", "t", "f", "z", "a", "o");
        assertThat(map.get("s")).isEqualTo("x");
        assertThat(map.get("n")).isEqualTo(new Json.Num("-1.5e3"));
        assertThat(map.get("i")).isEqualTo(new Json.Num("0"));
        assertThat(map.get("t")).isEqualTo(true);
        assertThat(map.get("f")).isEqualTo(false);
        assertThat(map.containsKey("z")).isTrue();
        assertThat(map.get("z")).isNull();
        assertThat((List<?>) map.get("a")).hasSize(2);
        assertThat((Map<?, ?>) map.get("o")).isEmpty();
    }

    @Test
    void decodesEscapes() throws Exception {
        assertThat(Json.parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\""))
                .isEqualTo("a\"b\\c/d\b\f\n\r\té€\uD83D\uDE00");
        assertThat(Json.parse("\"né€\"")).isEqualTo("né€");
    }

    @Test
    void writesWhatItReadsUnchanged() throws Exception {
        String text = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:c6:12:00:05\","
                + "\"sandbox\":\"/var/run/netns/cni-1\"}],\"ips\":[{\"address\":\"198.18.0.5/16\",\"interface\":0}],"
                + "\"dns\":{},\"mtu\":1.5E+3,\"x\":null,\"y\":[true,false]}";

        assertThat(Json.write(Json.parse(text))).isEqualTo(text);
    }

    @Test
    void escapesOnWrite() {
        assertThat(Json.write("q\"b\\n\nc\u0001é")).isEqualTo("\"q\\\"b\\\\n\\nc\\u0001é\"");
        assertThat(Json.write(Json.object("a", List.of(1L, Json.Num.of(2)), "b", null)))
                .isEqualTo("{\"a\":[1,2],\"b\":null}");
    }

    @Test
    void roundTripsStringsWithEveryCharacter() throws Exception {
        StringBuilder all = new StringBuilder();
        for (char c = 0; c < 0x600; c++) {
            all.append(c);
        }
        assertThat(Json.parse(Json.write(all.toString()))).isEqualTo(all.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "\"unterminated",
        "01", "1.", "-", "1e", "+1", ".5", "tru", "nul", "\"\\x\"", "\"\\u12\"", "\"\\u12zz\"", "{} {}",
        "[1 2]", "\"tab\there\"", "{\"a\":1", "NaN", "'x'"})
    void refusesMalformedText(String text) {
        assertThatThrownBy(() -> Json.parse(text)).isInstanceOf(Json.ParseException.class)
                .hasMessageContaining("at offset");
    }

    @Test
    void refusesNestingBeyondTheLimit() {
        char[] deep = new char[Json.MAX_DEPTH + 2];
        Arrays.fill(deep, '[');
        assertThatThrownBy(() -> Json.parse(new String(deep))).hasMessageContaining("nested deeper");
    }

    @Test
    void numbersConvertToLongWhenIntegral() {
        assertThat(new Json.Num("42").longValue(-1)).isEqualTo(42);
        assertThat(new Json.Num("4.2").longValue(-1)).isEqualTo(-1);
    }
}
