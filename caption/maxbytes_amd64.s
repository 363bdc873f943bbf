#include "textflag.h"

// func pmaxub(dst, src *byte, blocks int)
TEXT ·pmaxub(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	MOVOU (DI), X0
	MOVOU (SI), X1
	PMAXUB X1, X0
	MOVOU X0, (DI)
	ADDQ $16, DI
	ADDQ $16, SI
	DECQ CX
	JNZ loop
done:
	RET
