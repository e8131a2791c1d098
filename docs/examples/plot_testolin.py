"""
Testolin et al.: a DBN trained by CD-1
======================================

``deepcnt reproduce testolin`` at the smallest size: the mean weight shifts negative and the visible units'
strengths turn negative. The findings table
says which finding shows at this size; see the reproduction page for the full-size numbers.
"""
import tempfile

from deepcnt.bindings.reproduce import reproduce

result = reproduce("testolin", out=tempfile.mkdtemp(), size="tiny")
print(result)

# %%
# The figures the reproduction wrote:
result.show()
