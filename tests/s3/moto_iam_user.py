#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Creates an IAM user with an allow-all policy and an access key on a moto server started
with INITIAL_NO_AUTH_ACTION_COUNT (these are its free, unauthenticated calls), and prints
"ACCESS_KEY_ID SECRET_ACCESS_KEY". Usage: moto_iam_user.py http://127.0.0.1:PORT"""
import sys

import boto3

iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="lf")
key = iam.create_access_key(UserName="lf")["AccessKey"]
iam.put_user_policy(UserName="lf", PolicyName="all", PolicyDocument=(
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'))
print(key["AccessKeyId"], key["SecretAccessKey"])
