-- every byte but NUL, in order, then what C would read as something else
	
 !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ
??= ??/ ??' ??( ??) ??! ??< ??> ??- ??"??
'quoted' "double" \ \\ \n \t \0 \x41 \101 \u00e9 \"
/* not a comment */ // nor this

	Ã©â‚¬ğŸ˜€ ÿş (not UTF-8)
ends without a newline, on a backslash \