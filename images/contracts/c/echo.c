/* Example C contract: echo(bytes) returns its input unchanged; caller()
 * returns the caller's 32-byte identity. */
#include "nativm.h"

NATIVM_METHOD(echo)
{
    nativm_set_return(input, input_len);
}

NATIVM_METHOD(whoami)
{
    (void)input;
    (void)input_len;
    uint8_t who[32];
    nativm_caller(who);
    nativm_set_return(who, sizeof who);
}
