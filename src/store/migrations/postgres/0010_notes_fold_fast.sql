-- 0010_notes_fold_fast: notes_fold, the same answers, faster (docs/PERFORMANCE.md,
-- second round). Compiled into teamnotes by the build (scripts/gen-migrations.py).
--
-- translate() looks every character of its input up in the 488-letter table, one
-- multibyte decode per table letter: three calls per saved note (the search column),
-- 0.65 ms per INSERT of the benchmark's short note against 0.28 ms now (one pgbench
-- client, commits not synced), 175-224 ms for 64 KiB of ASCII text against 12-20 ms.
-- Every letter of the table is outside ASCII, so a text that is all ASCII (as many
-- bytes as characters) comes back unchanged without the lookup. And as a SQL function
-- it was inlined, its body parsed again, at every INSERT/UPDATE (the generated column's
-- expression is planned per statement); PL/pgSQL keeps it compiled per session. Same
-- signature, same results: the search column needs no rebuild.
CREATE OR REPLACE FUNCTION notes_fold(t text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
BEGIN
    IF octet_length(t) = char_length(t) THEN
        RETURN t;
    END IF;
    RETURN translate(t,
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíî'
        'ïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜ'
        'ĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐő'
        'ŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽ'
        'žƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻ'
        'ȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯ'
        'ȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣ'
        'ḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋ'
        'ṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳ'
        'ṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạ'
        'ẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉ'
        'ỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰự'
        'ỲỳỴỵỶỷỸỹ',
        'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiii'
        'inooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeG'
        'gGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOo'
        'RrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZ'
        'zOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAa'
        'AaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOo'
        'OoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHh'
        'HhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNn'
        'OoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUu'
        'UuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyAa'
        'AaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIi'
        'IiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUu'
        'YyYyYyYy');
END
$$;
