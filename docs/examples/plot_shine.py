"""
Shine et al.: an MLP trained by SGD
===================================

``deepcnt reproduce shine`` at the smallest size: the edge change of the input weights tracks the pixels'
information. The findings table
says which finding shows at this size; see the reproduction page for the full-size numbers.
"""
import tempfile

from deepcnt.bindings.reproduce import reproduce

result = reproduce("shine", out=tempfile.mkdtemp(), size="tiny")
print(result)

# %%
# The figures the reproduction wrote:
result.show()
